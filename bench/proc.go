package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// procStat is one reading of a process's CPU time and memory.
type procStat struct {
	at      time.Time
	cpu     time.Duration // user + system
	rss     int64         // VmRSS, bytes
	rssAnon int64         // RssAnon, bytes
	hwm     int64         // VmHWM (peak RSS), bytes
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) (procStat, error) {
	st := procStat{at: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("read process stat: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields count from
	// after its closing parenthesis, where field 3 (state) is the first.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("/proc/%d/stat: no command name in %q", pid, b)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 13", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return st, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	st.cpu = time.Duration(utime+stime) * clockTick

	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, fmt.Errorf("read process status: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst = &st.rss
		case "RssAnon":
			dst = &st.rssAnon
		case "VmHWM":
			dst = &st.hwm
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return st, fmt.Errorf("/proc/%d/status: %s: %q", pid, name, value)
		}
		*dst = kb << 10
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("read process status: %w", err)
	}
	return st, nil
}

// sampler reads a process's /proc entries every interval and keeps every reading.
type sampler struct {
	pid int

	mu      sync.Mutex
	samples []procStat
	err     error
}

// startSampler samples pid until ctx ends.
func startSampler(ctx context.Context, pid int, interval time.Duration) *sampler {
	s := &sampler{pid: pid}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) sample() (procStat, error) {
	st, err := readProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return st, err
	}
	s.samples = append(s.samples, st)
	return st, nil
}

// now takes a reading immediately (to mark a window's edge) and keeps it.
func (s *sampler) now() (procStat, error) { return s.sample() }

// window summarizes the readings between from and to: the median RSS and RssAnon.
func (s *sampler) window(from, to time.Time) (rss, anon int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var r, a []int64
	for _, st := range s.samples {
		if st.at.Before(from) || st.at.After(to) {
			continue
		}
		r = append(r, st.rss)
		a = append(a, st.rssAnon)
	}
	return median(r), median(a)
}

// peak is the highest VmHWM and RssAnon seen.
func (s *sampler) peak() (hwm, anon int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.samples {
		hwm = max(hwm, st.hwm)
		anon = max(anon, st.rssAnon)
	}
	return hwm, anon
}

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
