package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddrs(t *testing.T) {
	addrs, err := Addrs(50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("%s returned twice", a)
		}
		seen[a] = true
		_, p, _ := net.SplitHostPort(a)
		if port, _ := strconv.Atoi(p); port < lowest || port >= ephemeralLow() {
			t.Errorf("%s: port outside [%d, %d)", a, lowest, ephemeralLow())
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s is not free: %v", a, err)
			continue
		}
		l.Close()
	}
}

// TestAddrsNeverRepeats: separate calls never return a port twice, although each port is free
// again once its call returns (1,000 draws of about 17,000 ports would repeat one almost surely).
func TestAddrsNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		addrs, err := Addrs(1)
		if err != nil {
			t.Fatal(err)
		}
		if seen[addrs[0]] {
			t.Fatalf("%s returned by two calls", addrs[0])
		}
		seen[addrs[0]] = true
	}
}

// TestPickSkipsBusyPorts: of two ports, one held by a listener, pick returns the other, and
// asking for both fails.
func TestPickSkipsBusyPorts(t *testing.T) {
	addrs, err := Addrs(2)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, p, _ := net.SplitHostPort(addrs[0])
	port, _ := strconv.Atoi(p)
	if port+1 >= ephemeralLow() {
		port-- // keep [port, port+2) below the ephemeral range
	}
	for range 20 {
		got, err := pick(1, port, port+2, map[int]bool{})
		if err != nil {
			t.Fatalf("pick(1) of two ports, one busy: %v", err)
		}
		if got[0] == busy.Addr().String() {
			t.Fatalf("pick returned the busy %s", got[0])
		}
	}
	if got, err := pick(2, port, port+2, map[int]bool{}); err == nil {
		t.Fatalf("pick(2) of two ports, one busy: %v, want an error", got)
	}
}
