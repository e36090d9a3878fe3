package security

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pki is a certificate authority made for one test, with a server certificate for 127.0.0.1 and
// localhost and a client certificate for the agent, each written to PEM files in a temporary
// directory.
type pki struct {
	CAFile                string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	pool                  *x509.CertPool
	server, client        tls.Certificate
	caCert                *x509.Certificate
	caKey                 *ecdsa.PrivateKey
	dir                   string
	name                  string
	serial                int64
	notBefore, notAfter   time.Time
}

// newPKI makes a CA named name and its two leaf certificates.
func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), name: name, notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(24 * time.Hour)}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA", Organization: []string{"Lookout tests"}},
		NotBefore:             p.notBefore,
		NotAfter:              p.notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	p.caCert, err = x509.ParseCertificate(der)
	require.NoError(t, err)
	p.caKey = key
	p.serial = 1
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.caCert)
	p.CAFile = filepath.Join(p.dir, "ca.pem")
	require.NoError(t, writePEM(p.CAFile, "CERTIFICATE", der, 0o644))

	p.ServerCert, p.ServerKey, p.server = p.leaf(t, "server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.ClientCert, p.ClientKey, p.client = p.leaf(t, "client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "lookout-agent"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

// leaf signs tmpl with the CA and writes <name>.pem and <name>-key.pem.
func (p *pki) leaf(t *testing.T, name string, tmpl *x509.Certificate) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore, tmpl.NotAfter = p.notBefore, p.notAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	require.NoError(t, writePEM(certFile, "CERTIFICATE", der, 0o644))
	require.NoError(t, writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600))
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	return certFile, keyFile, pair
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	b := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// serverTLS is the TLS config of a server with the server certificate; mutual also requires and
// verifies a client certificate signed by the CA.
func (p *pki) serverTLS(mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = p.pool
	}
	return c
}

// clientTLS is the TLS config of the test's own queries: it trusts the CA and presents the client
// certificate.
func (p *pki) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}, MinVersion: tls.VersionTLS12}
}

func TestPKI(t *testing.T) {
	p := newPKI(t, "unit")
	srv := &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		c, err := tls.Dial("tcp", net.JoinHostPort(host, port), &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}, ServerName: host})
		require.NoError(t, err, host)
		buf := make([]byte, 2)
		_, err = c.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "ok", string(buf))
		c.Close()
	}
	other := newPKI(t, "other")
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: other.pool})
	require.ErrorContains(t, err, "certificate signed by unknown authority")
}
