package faultproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTTPOptions configures an HTTP proxy.
type HTTPOptions struct {
	// Target is the backend's base URL (scheme and host); the request's path and query are kept.
	Target string
	// Items returns the IDs of the items a request carries (numbered log lines, samples); they
	// count as delivered when the backend answers 2xx. Nil: nothing is counted.
	Items func(r *http.Request, body []byte) ([]string, error)
	// TLS, when set, makes the proxy serve HTTPS with it (set ClientAuth for mTLS).
	TLS *tls.Config
	// Authorization, when set, is the Authorization header every request must carry; others get
	// 401 and are not forwarded.
	Authorization string
	// Addr is the loopback address to listen on; empty: a free port.
	Addr string
}

// HTTP is a running HTTP proxy.
type HTTP struct {
	opts   HTTPOptions
	ln     *listener
	rec    *recorder
	client *http.Client

	mu      sync.Mutex
	srv     *http.Server
	serving sync.WaitGroup
	// decodeErrs counts request bodies Items could not read.
	decodeErrs int
	lastErr    error
}

// StartHTTP starts an HTTP proxy; Close stops it.
func StartHTTP(opts HTTPOptions) (*HTTP, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := newListener(addr, opts.TLS)
	if err != nil {
		return nil, err
	}
	p := &HTTP{opts: opts, ln: ln, rec: newRecorder(), client: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second,
	}}}
	p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *HTTP) Addr() string { return p.ln.addr }

// URL is the proxy's base URL (http:// or https://).
func (p *HTTP) URL() string {
	if p.opts.TLS != nil {
		return "https://" + p.ln.addr
	}
	return "http://" + p.ln.addr
}

func (p *HTTP) serve() {
	l := p.ln.current()
	if l == nil {
		return
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	p.serving.Add(1)
	go func() {
		defer p.serving.Done()
		_ = srv.Serve(l)
	}()
}

// Set changes the proxy's behaviour and returns the previous one. Leaving Refuse listens again
// on the same address.
func (p *HTTP) Set(f Fault) Fault {
	old := p.rec.set(f)
	switch {
	case f.Kind == Refuse && old.Kind != Refuse:
		p.ln.close()
		p.serving.Wait()
	case f.Kind != Refuse && old.Kind == Refuse:
		if err := p.ln.open(); err == nil {
			p.serve()
		} else {
			p.mu.Lock()
			p.lastErr = err
			p.mu.Unlock()
		}
	}
	return old
}

// Fault returns the current behaviour.
func (p *HTTP) Fault() Fault { f, _ := p.rec.get(); return f }

// Stats returns a copy of the counts so far.
func (p *HTTP) Stats() Stats { return p.rec.stats() }

// Unique is the number of distinct items the backend accepted so far.
func (p *HTTP) Unique() int { return p.rec.uniqueCount() }

// Err reports a body the proxy could not decode, or a failure to listen again.
func (p *HTTP) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.decodeErrs > 0 {
		return fmt.Errorf("%d request bodies could not be decoded, last: %w", p.decodeErrs, p.lastErr)
	}
	return p.lastErr
}

// Close stops the proxy and cuts its connections.
func (p *HTTP) Close() {
	p.ln.close()
	p.serving.Wait()
	p.client.CloseIdleConnections()
}

func (p *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<20))
	if err != nil {
		p.rec.record(nil, 0, Pass, nil)
		return
	}
	if p.opts.Authorization != "" && r.Header.Get("Authorization") != p.opts.Authorization {
		p.rec.record(body, http.StatusUnauthorized, Pass, nil)
		http.Error(w, "missing or wrong credentials", http.StatusUnauthorized)
		return
	}
	for {
		f, changed := p.rec.get()
		switch f.Kind {
		case Refuse, Reset:
			p.rec.record(body, 0, f.Kind, nil)
			cut(w)
			return
		case Status:
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int((f.RetryAfter+time.Second-1)/time.Second))))
			}
			p.rec.record(body, f.Status, f.Kind, nil)
			http.Error(w, fmt.Sprintf("fault proxy: %s", f), f.Status)
			return
		case Delay:
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				p.rec.record(body, 0, f.Kind, nil)
				return
			}
		case Hang:
			select {
			case <-changed:
				continue // the fault changed: act on the new one
			case <-r.Context().Done():
				p.rec.record(body, 0, f.Kind, nil)
				return
			}
		}
		p.forward(w, r, body, f.Kind)
		return
	}
}

// cut closes the request's connection without an answer.
func cut(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // HTTP/2: abort the stream
}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *HTTP) forward(w http.ResponseWriter, r *http.Request, body []byte, kind Kind) {
	u := strings.TrimSuffix(p.opts.Target, "/") + r.URL.RequestURI()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, u, bytes.NewReader(body))
	if err != nil {
		p.rec.record(body, http.StatusBadGateway, kind, nil)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	req.Header.Del("Authorization") // the proxy checked it; the backend has no auth
	resp, err := p.client.Do(req)
	if err != nil {
		// The backend itself is unreachable: the client sees 502, and it is not a delivery.
		p.rec.record(body, http.StatusBadGateway, kind, nil)
		http.Error(w, "fault proxy: backend: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var items []string
	if resp.StatusCode/100 == 2 && p.opts.Items != nil {
		items, err = p.opts.Items(r, body)
		if err != nil {
			p.mu.Lock()
			p.decodeErrs++
			p.lastErr = err
			p.mu.Unlock()
		}
	}
	p.rec.record(body, resp.StatusCode, kind, items)
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}
