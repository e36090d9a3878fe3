package faultproxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
)

// listener is a loopback listener that can be closed and opened again on the same address, with
// every connection it accepted tracked, so that "refuse" can cut them all: the client then sees
// connection refused, as when a backend's process is gone.
type listener struct {
	addr string
	tls  *tls.Config

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

func newListener(addr string, tlsConfig *tls.Config) (*listener, error) {
	l := &listener{addr: addr, tls: tlsConfig, conns: map[net.Conn]struct{}{}}
	if err := l.open(); err != nil {
		return nil, err
	}
	l.addr = l.ln.Addr().String()
	return l, nil
}

// open listens again on the address; it is a no-op when already listening.
func (l *listener) open() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", l.addr, err)
	}
	l.ln = &trackingListener{Listener: ln, l: l}
	return nil
}

// current returns the listener to serve, as a TLS listener when the proxy serves TLS.
func (l *listener) current() net.Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	if l.tls != nil {
		return tls.NewListener(l.ln, l.tls)
	}
	return l.ln
}

// close stops listening and cuts every open connection.
func (l *listener) close() {
	l.mu.Lock()
	if l.ln != nil {
		_ = l.ln.Close()
		l.ln = nil
	}
	l.mu.Unlock()
	l.cutConns()
}

type trackingListener struct {
	net.Listener
	l *listener
}

func (t *trackingListener) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	t.l.mu.Lock()
	defer t.l.mu.Unlock()
	if t.l.ln != t {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: t.l}
	t.l.conns[tc] = struct{}{}
	return tc, nil
}

type trackedConn struct {
	net.Conn
	l    *listener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	err := c.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// cutConns closes every open connection but keeps listening.
func (l *listener) cutConns() {
	l.mu.Lock()
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns { // Close takes l.mu to forget the connection
		_ = c.Close()
	}
}
