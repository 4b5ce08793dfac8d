package testpeer

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// MosquittoConfig is what StartMosquitto writes into mosquitto.conf.
// Zero values leave mosquitto's defaults.
type MosquittoConfig struct {
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// Persistence saves sessions and messages in the test's temp folder: on
	// AutosaveInterval and on Stop, not on Kill.
	Persistence bool
	// AutosaveInterval, in whole seconds; negative writes 0, which saves
	// only at a clean shutdown.
	AutosaveInterval time.Duration
	// MaxInflightMessages is also the Receive Maximum mosquitto advertises
	// (default 20).
	MaxInflightMessages int
	// MaxQueuedMessages per client (default 1000); negative writes 0, which
	// removes the limit.
	MaxQueuedMessages int
	// Extra is appended to the configuration verbatim.
	Extra string
}

// Mosquitto is a mosquitto broker run by a test.
type Mosquitto struct {
	server
}

// StartMosquitto starts /usr/sbin/mosquitto with cfg on 127.0.0.1 and waits
// until it accepts connections. It is killed when the test ends. It skips
// (fails under IOTCTL_REQUIRE_PEERS=1) when mosquitto is not installed.
func StartMosquitto(t testing.TB, cfg MosquittoConfig) *Mosquitto {
	t.Helper()
	m := &Mosquitto{server: newServer(t, "mosquitto", "mosquitto.conf", "mosquitto.log")}
	m.launch(cfg.Port, func() string { return m.config(cfg) })
	return m
}

func (m *Mosquitto) config(cfg MosquittoConfig) string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	line("listener %d 127.0.0.1", m.port)
	line("allow_anonymous true")
	if os.Geteuid() == 0 {
		// Started as root it would switch to user mosquitto, who cannot
		// read the test's temp folder.
		line("user root")
	}
	line("log_dest file %s", m.log)
	line("log_type error\nlog_type warning\nlog_type notice\nlog_type information")
	line("connection_messages true")
	if cfg.Persistence {
		line("persistence true")
		line("persistence_location %s%c", filepath.Join(m.dir, "data"), filepath.Separator)
		if err := os.MkdirAll(filepath.Join(m.dir, "data"), 0o700); err != nil {
			m.t.Fatal(err)
		}
	}
	if cfg.AutosaveInterval != 0 {
		line("autosave_interval %d", max(0, int(cfg.AutosaveInterval/time.Second)))
	}
	if cfg.MaxInflightMessages != 0 {
		line("max_inflight_messages %d", cfg.MaxInflightMessages)
	}
	if cfg.MaxQueuedMessages != 0 {
		line("max_queued_messages %d", max(0, cfg.MaxQueuedMessages))
	}
	if cfg.Extra != "" {
		line("%s", cfg.Extra)
	}
	return b.String()
}

// mosquittoConnected matches the log line of an accepted CONNECT:
// "New client connected from ADDR as ID (pN, cN, kN…)."
var mosquittoConnected = regexp.MustCompile(`New client connected from \S+ as (.+) \(p(\d),`)

// Protocols is the MQTT version of each connection the client id made so
// far, in order, from the log's connection lines: "3.1" (p1), "3.1.1" (p2)
// or "5" (p5).
func (m *Mosquitto) Protocols(id string) []string {
	var out []string
	for _, l := range strings.Split(m.Log(), "\n") {
		s := mosquittoConnected.FindStringSubmatch(l)
		if s == nil || s[1] != id {
			continue
		}
		out = append(out, map[string]string{"1": "3.1", "2": "3.1.1", "5": "5"}[s[2]])
	}
	return out
}
