package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMetricsAndPprofOnTheirOwnAddresses(t *testing.T) {
	l := startLatch(t, testEnv(t.TempDir(), "METRICS_ADDR", "127.0.0.1:0", "PPROF_ADDR", "127.0.0.1:0"))
	find := func(name string) string {
		re := regexp.MustCompile(`latch: ` + name + ` on (http://\S+)`)
		var url string
		waitFor(t, name+" address", 10*time.Second, func() bool {
			m := re.FindStringSubmatch(l.out.String())
			if m != nil {
				url = m[1]
			}
			return m != nil
		})
		return url
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	if status, body := get(find("metrics")); status != 200 || !strings.Contains(body, "latch_build_info") {
		t.Fatalf("metrics listener: %d", status)
	}
	if status, _ := get(l.base + "/metrics"); status != 404 {
		t.Fatalf("/metrics on the main port with METRICS_ADDR set: %d, want 404", status)
	}
	if status, body := get(find("pprof") + "cmdline"); status != 200 || body == "" {
		t.Fatalf("pprof listener: %d", status)
	}
	if status, _ := get(l.base + "/debug/pprof/"); status != 404 {
		t.Fatalf("pprof on the main port: %d, want 404", status)
	}
}

func TestPprofRefusesNonLoopback(t *testing.T) {
	_, err := loadConfig(func(k string) string { return map[string]string{"PPROF_ADDR": "0.0.0.0:6060"}[k] })
	if err == nil || !strings.Contains(err.Error(), "PPROF_ADDR") {
		t.Fatalf("PPROF_ADDR on every interface accepted: %v", err)
	}
}
