package badinput

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotctl/iotctl/internal/fakepeer"
	"github.com/iotctl/iotctl/internal/testenv"

	"github.com/iotctl/iotctl/internal/testpeer"
	"github.com/iotctl/iotctl/internal/testpki"
	"github.com/iotctl/iotctl/pkg/broker"
	"github.com/mochi-mqtt/server/v2/packets"
	gopkcs12 "software.sslmate.com/src/go-pkcs12"
)

// world is everything the bad-input cases point at: files good and bad,
// an open broker with a refusing hook, a TLS broker whose certificate is
// for another name, a TLS 1.1-only server, a closed port.
type world struct {
	dir string

	caFile                         string
	certFile, keyFile              string // a valid pair
	otherKey                       string // a key of another certificate
	expiredCert, expiredKey        string
	encKey                         string // legacy encrypted PEM, password encKeyPassword
	p12File                        string // password p12Password
	emptyFile, notPEM, dirPath     string
	unreadable                     string // a file that cannot be read even by root
	bigPayload, notUTF8            string
	closed                         string // 127.0.0.1:<closed port>
	plainURL                       string // mqtt://127.0.0.1:port, refusing hook
	plainPort                      int
	tlsURL                         string // mqtts://127.0.0.1:port, certificate for other.test
	selfSignedURL                  string // mqtts://127.0.0.1:port, generated certificate, CA not given
	tls11URL                       string // a server that speaks TLS 1.0-1.1 only
	hook                           *refuseHook
	broker                         *broker.Broker
	softhsmConf, softhsmLib        string // "" when SoftHSM2 is missing
	softhsmToken                   string
	proxyNoAuthAddr, proxyAuthAddr string // "" when tinyproxy is missing
}

const (
	encKeyPassword = "right-key-password"
	p12Password    = "right-p12-password"
	hsmPIN         = "1234-user"
	hsmSOPIN       = "5678-so"
)

// refuseHook refuses CONNECT for username "denied" and every topic under
// forbidden/, and records the payloads published to badinput/stdin.
type refuseHook struct {
	broker.HookBase
	mu    sync.Mutex
	stdin [][]byte
}

func (h *refuseHook) ID() string { return "badinput-refuse" }
func (h *refuseHook) Provides(b byte) bool {
	return b == broker.OnConnect || b == broker.OnConnectAuthenticate || b == broker.OnACLCheck || b == broker.OnPublished || b == broker.OnSubscribe
}

// OnConnect answers client IDs starting with unauth- with CONNACK 0x87
// (not authorized), as IoT Core does when the policy denies iot:Connect.
func (h *refuseHook) OnConnect(cl *broker.Client, pk packets.Packet) error {
	if strings.HasPrefix(pk.Connect.ClientIdentifier, "unauth-") {
		return packets.ErrNotAuthorized
	}
	return nil
}
func (h *refuseHook) OnConnectAuthenticate(cl *broker.Client, pk packets.Packet) bool {
	return string(pk.Connect.Username) != "denied"
}
func (h *refuseHook) OnACLCheck(cl *broker.Client, topic string, write bool) bool {
	return !strings.HasPrefix(topic, "forbidden/")
}
func (h *refuseHook) OnSubscribe(cl *broker.Client, pk packets.Packet) packets.Packet {
	for i, f := range pk.Filters {
		if strings.HasPrefix(f.Filter, "forbidden/") {
			pk.ReasonCodes[i] = packets.ErrNotAuthorized.Code
		}
	}
	return pk
}
func (h *refuseHook) OnPublished(cl *broker.Client, pk packets.Packet) {
	if pk.TopicName == "badinput/stdin" {
		h.mu.Lock()
		h.stdin = append(h.stdin, append([]byte{}, pk.Payload...))
		h.mu.Unlock()
	}
}

func (h *refuseHook) stdinPayloads() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.stdin...)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{dir: t.TempDir()}
	write := func(name string, data []byte) string { return testpki.Write(t, w.dir, name, data) }

	ca := testpki.NewCA(t, "badinput CA")
	w.caFile = write("ca.pem", ca.PEM)
	leaf := ca.Client(t, "badinput-client", testpki.Options{})
	w.certFile, w.keyFile = leaf.Files(t, w.dir, "client")
	other := ca.Client(t, "other-client", testpki.Options{})
	w.otherKey = write("other.key", other.KeyPEM)
	old := ca.Client(t, "expired-client", testpki.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	w.expiredCert, w.expiredKey = old.Files(t, w.dir, "expired")

	w.encKey = write("enc.key", encryptedPEM(t, leaf))
	p12, err := gopkcs12.Modern.Encode(leaf.Key, leaf.Cert, nil, p12Password)
	if err != nil {
		t.Fatal(err)
	}
	w.p12File = write("client.p12", p12)

	w.emptyFile = write("empty.pem", nil)
	w.notPEM = write("not.pem", []byte("this is not a certificate\n"))
	w.dirPath = filepath.Join(w.dir, "a-folder.pem")
	if err := os.Mkdir(w.dirPath, 0o700); err != nil {
		t.Fatal(err)
	}
	w.unreadable = unreadableFile(t, w.dir)
	w.bigPayload = write("200k.bin", bytes.Repeat([]byte("x"), 200*1024))
	w.notUTF8 = write("latin1.txt", []byte("caf\xe9\n"))
	w.closed = "127.0.0.1:" + strconv.Itoa(testpeer.FreePort(t))

	// The open broker with the refusing hook.
	w.hook = &refuseHook{}
	b := testenv.StartBroker(t, broker.Options{Listen: "127.0.0.1:0", Home: t.TempDir(), Hooks: []broker.Hook{w.hook}})
	w.broker = b
	w.plainURL = b.URL(broker.MQTT)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(w.plainURL, "mqtt://"))
	w.plainPort, _ = strconv.Atoi(port)

	// A TLS broker whose certificate names other.test only.
	srv := ca.Server(t, "other.test")
	sc, sk := srv.Files(t, w.dir, "server")
	w.tlsURL = startTLSBroker(t, broker.Options{TLSListen: "127.0.0.1:0", TLSCert: sc, TLSKey: sk, Home: t.TempDir()})

	// A TLS broker with the certificate it generates for localhost and
	// 127.0.0.1, signed by a CA the client is not told about.
	w.selfSignedURL = startTLSBroker(t, broker.Options{TLSListen: "127.0.0.1:0", Home: t.TempDir()})

	w.tls11URL = startTLS11(t, ca)
	w.softhsm(t)
	w.proxies(t)
	return w
}

// encryptedPEM is the leaf's key as legacy encrypted PEM (Proc-Type:
// 4,ENCRYPTED), as openssl -traditional writes it.
func encryptedPEM(t *testing.T, leaf *testpki.Leaf) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(leaf.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	block, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", der, []byte(encKeyPassword), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

// unreadableFile returns a path that exists and cannot be read: mode 000
// for a normal user; as root (who reads everything) a file whose read
// fails, /proc/self/mem (reading its first page gives EIO), else a folder.
func unreadableFile(t *testing.T, dir string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		p := testpki.Write(t, dir, "mode000.pem", []byte("-----BEGIN CERTIFICATE-----\n"))
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := os.ReadFile("/proc/self/mem"); err != nil {
		return "/proc/self/mem"
	}
	p := filepath.Join(dir, "unreadable-folder.pem")
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// startTLSBroker starts a broker with only the TLS listener of opts (no
// plain one, unlike testenv.StartBroker) and returns its mqtts:// URL.
func startTLSBroker(t *testing.T, opts broker.Options) string {
	t.Helper()
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.URL(broker.MQTTS)
}

// startTLS11 serves TLS 1.0-1.1 only on a loopback port and fails every
// handshake a TLS 1.2+ client tries.
func startTLS11(t *testing.T, ca *testpki.CA) string {
	t.Helper()
	leaf := ca.Server(t, "127.0.0.1", "localhost")
	cfg := &tls.Config{
		Certificates: []tls.Certificate{leaf.TLSCertificate()},
		MinVersion:   tls.VersionTLS10,
		MaxVersion:   tls.VersionTLS11,
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	fakepeer.Serve(t, ln, func(_ int, c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_ = c.(*tls.Conn).Handshake()
	})
	return "mqtts://" + ln.Addr().String()
}

// softhsm makes a SoftHSM2 token with a known PIN in a private config.
func (w *world) softhsm(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
			t.Fatal("softhsm2-util is not installed and IOTCTL_REQUIRE_PEERS=1")
		}
		return
	}
	h := testpeer.StartSoftHSM(t)
	w.softhsmLib, w.softhsmConf, w.softhsmToken = h.Lib, h.Conf, "badinput"
	h.InitToken(t, w.softhsmToken, hsmSOPIN, hsmPIN)
}

// proxies starts tinyproxy twice: without and with Basic auth.
func (w *world) proxies(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tinyproxy"); err != nil {
		if os.Getenv("IOTCTL_REQUIRE_PEERS") == "1" {
			t.Fatal("tinyproxy is not installed and IOTCTL_REQUIRE_PEERS=1")
		}
		return
	}
	ports := []int{w.plainPort}
	w.proxyNoAuthAddr = testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{ConnectPorts: ports}).Addr()
	w.proxyAuthAddr = testpeer.StartTinyproxy(t, testpeer.TinyproxyConfig{User: "proxyuser", Pass: "proxypass", ConnectPorts: ports}).Addr()
}
