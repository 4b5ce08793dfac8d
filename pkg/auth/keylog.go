package auth

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"sync"
)

// KeyLogEnv names the file TLS session keys are appended to, in the NSS
// key log format (CLIENT_RANDOM, CLIENT_TRAFFIC_SECRET_0, …), as curl and
// browsers do: Wireshark decrypts captures of mqtts and wss with it.
const KeyLogEnv = "SSLKEYLOGFILE"

// keyLogs holds one open file per path for the life of the process, so
// every connection (bench opens many) appends to the same descriptor.
var keyLogs sync.Map // path → *keyLogFile

type keyLogFile struct {
	once sync.Once
	mu   sync.Mutex
	f    *os.File
	err  error
}

func (k *keyLogFile) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.f.Write(p)
}

// keyLog returns the writer of $SSLKEYLOGFILE (opened to append, created
// 0600) and its path; nil when the variable is unset or the file cannot be
// opened (KeyLogNotice says so).
func keyLog() (io.Writer, string, error) {
	path := os.Getenv(KeyLogEnv)
	if path == "" {
		return nil, "", nil
	}
	v, _ := keyLogs.LoadOrStore(path, &keyLogFile{})
	k := v.(*keyLogFile)
	k.once.Do(func() {
		k.f, k.err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	})
	if k.err != nil {
		return nil, path, k.err
	}
	return k, path, nil
}

// KeyLogNotice is the warning every run prints once when SSLKEYLOGFILE is
// set: where the keys go, or why they do not; "" when it is unset.
func KeyLogNotice() string {
	_, path, err := keyLog()
	switch {
	case path == "":
		return ""
	case err != nil:
		return fmt.Sprintf("%s=%s: %v: TLS session keys are not written", KeyLogEnv, path, unwrapPathErr(err))
	}
	return fmt.Sprintf("TLS session keys are being written to %s (%s): anyone with that file can decrypt captured traffic; unset %s when done", path, KeyLogEnv, KeyLogEnv)
}

// withKeyLog sets cfg's KeyLogWriter when SSLKEYLOGFILE is set.
func withKeyLog(cfg *tls.Config) *tls.Config {
	if w, _, _ := keyLog(); w != nil {
		cfg.KeyLogWriter = w
	}
	return cfg
}
