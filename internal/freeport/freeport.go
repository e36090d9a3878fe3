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
)

// lowest is the lowest port Addrs chooses.
const lowest = 15000

// Addrs returns n distinct loopback addresses whose ports were free when they were chosen. The
// ports are drawn at random below the kernel's ephemeral range (net.ipv4.ip_local_port_range),
// not by listening on port 0: the kernel takes port 0's choice from that range, where any
// outgoing connection can take it again before the started process binds it ("address already
// in use", seen in CI).
func Addrs(n int) ([]string, error) {
	return pick(n, lowest, ephemeralLow())
}

// pick returns n distinct loopback addresses with ports in [lo, hi) that it could listen on.
// Every listener is held until all are chosen.
func pick(n, lo, hi int) ([]string, error) {
	var addrs []string
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
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
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
