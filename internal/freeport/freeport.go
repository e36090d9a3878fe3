// Package freeport chooses loopback TCP addresses for the processes that tests and benchmarks
// start.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the lowest port Addrs chooses.
const lowest = 15000

// Addrs returns n distinct loopback addresses whose ports were free when they were chosen and
// that no earlier call in this process returned. The ports are drawn at random below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), not by listening on port 0: the
// kernel takes port 0's choice from that range, where any outgoing connection can take it again
// before the started process binds it ("address already in use", seen in CI).
func Addrs(n int) ([]string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	return pick(n, lowest, ephemeralLow(), handedOut.ports)
}

// handedOut holds the ports Addrs has returned in this process. A port stays free until the
// process it was chosen for binds it, which may be after other calls: without this record two
// calls could choose it (an agent's OTLP and health-check endpoints got the same port, seen in
// CI).
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// pick returns n distinct loopback addresses with ports in [lo, hi), not in given, that it
// could listen on, and adds their ports to given. Every listener is held until all are chosen.
func pick(n, lo, hi int, given map[int]bool) ([]string, error) {
	var addrs []string
	var ports []int
	taken := map[int]bool{}
	for tries := 0; len(addrs) < n; tries++ {
		if tries == 100*n || hi-lo-len(taken) <= 0 {
			return nil, fmt.Errorf("no %d free loopback ports in [%d, %d)", n, lo, hi)
		}
		port := lo + rand.IntN(hi-lo)
		if taken[port] {
			continue
		}
		taken[port] = true
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
		ports = append(ports, port)
	}
	for _, p := range ports {
		given[p] = true
	}
	return addrs, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's default 32768 when
// it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if low, err := strconv.Atoi(f[0]); err == nil && low > lowest {
				return low
			}
		}
	}
	return 32768
}
