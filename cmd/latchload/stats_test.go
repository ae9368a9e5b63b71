package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	seq := func(n int) []uint32 {
		s := make([]uint32, n)
		for i := range s {
			s[i] = uint32(i + 1)
		}
		return s
	}
	tests := []struct {
		name                string
		samples             []uint32
		p50, p90, p99, pmax uint32
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one", []uint32{7}, 7, 7, 7, 7},
		{"two", []uint32{1, 2}, 1, 2, 2, 2},
		{"ten", seq(10), 5, 9, 10, 10},
		{"hundred", seq(100), 50, 90, 99, 100},
		{"thousand", seq(1000), 500, 900, 990, 1000},
		{"hundred and one", seq(101), 51, 91, 100, 101},
		{"ties", []uint32{3, 3, 3, 3, 9}, 3, 9, 9, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := [4]uint32{percentile(tt.samples, 5000), percentile(tt.samples, 9000), percentile(tt.samples, 9900), percentile(tt.samples, 10000)}
			want := [4]uint32{tt.p50, tt.p90, tt.p99, tt.pmax}
			if got != want {
				t.Errorf("p50, p90, p99, max = %v, want %v", got, want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	s := make([]uint32, 1000)
	for i := range s {
		s[i] = uint32(i+1) * 10 // 10µs … 10ms
	}
	rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	got := summarize(s)
	want := stepStats{Count: 1000, P50: 5, P90: 9, P99: 9.9, Max: 10}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if !slices.IsSorted(s) {
		t.Error("samples not sorted in place")
	}
}

func TestRecorderMerge(t *testing.T) {
	var a, b recorder
	a.response(stepMe, 2*time.Millisecond, 200, true)
	a.response(stepMe, time.Millisecond, 429, false)
	b.response(stepMe, 3*time.Millisecond, 200, true)
	b.response(stepSend, 4*time.Millisecond, 429, false)
	b.response(stepSend, 4*time.Millisecond, 500, false)
	b.flows, b.errors = 1, 2
	a.merge(&b)
	if a.requests != 5 || a.successes != 2 || a.flows != 1 || a.errors != 2 {
		t.Errorf("merged counts = %+v", a)
	}
	if a.status[429] != 2 || a.status[500] != 1 {
		t.Errorf("merged statuses = %v", a.status)
	}
	lat := a.latencies()
	if len(lat) != 1 || lat["me"].Count != 2 || lat["me"].Max != 3 {
		t.Errorf("latencies = %+v (only successes count)", lat)
	}
	if got := statusCounts(a.status); got["429"] != 2 || got["500"] != 1 {
		t.Errorf("statusCounts = %v", got)
	}
}

func TestMicros(t *testing.T) {
	if got := micros(1500 * time.Nanosecond); got != 1 {
		t.Errorf("micros(1.5µs) = %d", got)
	}
	if got := micros(-time.Second); got != 0 {
		t.Errorf("micros(-1s) = %d", got)
	}
	if got := micros(100 * time.Hour); got != 1<<32-1 {
		t.Errorf("micros(100h) = %d", got)
	}
}

func TestJar(t *testing.T) {
	var j jar
	j.update([]string{"latch_auth_request=abc.def; Path=/; HttpOnly; SameSite=Lax"})
	j.update([]string{"latch_session=tok1; Path=/; Max-Age=3600", "latch_auth_request=; Path=/; Max-Age=0"})
	if got := j.header(); got != "latch_session=tok1" {
		t.Errorf("header = %q, want the session only (Max-Age=0 clears)", got)
	}
	j.update([]string{"latch_session=tok2; Path=/", "other=x"})
	if got := j.header(); got != "latch_session=tok2; other=x" {
		t.Errorf("header = %q", got)
	}
	j.update([]string{"latch_session=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT"})
	if got := j.header(); got != "other=x" {
		t.Errorf("header = %q, want the expired cookie gone", got)
	}
	j.reset()
	if got := j.header(); got != "" {
		t.Errorf("after reset: %q", got)
	}
}

func TestProcReadings(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc: Linux only")
	}
	// Burn a little CPU so the count is not zero.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = strconv.Itoa(x)
	}
	ticks, err := cpuTicks(os.Getpid())
	if err != nil || ticks == 0 {
		t.Errorf("cpuTicks(self) = %d, %v", ticks, err)
	}
	if _, err := cpuTicks(999999999); err == nil {
		t.Error("cpuTicks of no process: no error")
	}
	rss, err := statusKB(os.Getpid(), "VmRSS")
	if err != nil || rss < 1024 {
		t.Errorf("VmRSS(self) = %d kB, %v", rss, err)
	}
	s := startRSSSampler([]int{os.Getpid()})
	time.Sleep(150 * time.Millisecond)
	if peak := s.finish(); peak < 1024 {
		t.Errorf("sampled peak = %d kB", peak)
	}

	want := uint64(100)
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		want, _ = strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	}
	if got := clockTicks(); got != want {
		t.Errorf("clockTicks = %d, getconf CLK_TCK = %d", got, want)
	}
}
