package main

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// step is one kind of request of a flow.
type step int

const (
	stepSend step = iota
	stepOutbox
	stepVerify // POST verify/code
	stepLink   // POST verify (magic-link form)
	stepMe
	stepLogout
	stepWrongCode // crowd: verify/code with a wrong code, answered 400
	stepIdleSend  // crowd: send to an address that never signs in
	stepMail      // crowd with a sink: waiting for the mail at the SMTP sink
	numSteps
)

var stepNames = [numSteps]string{"send", "outbox", "verify", "link", "me", "logout", "wrong_code", "idle_send", "mail"}

func (s step) String() string { return stepNames[s] }

// recorder is one worker's tally of the measured span; workers never
// share one, so recording takes no lock. Latencies are kept exactly, in
// microseconds (4 bytes a sample: ten minutes at 20,000 requests/s is
// under 50 MB).
type recorder struct {
	lat        [numSteps][]uint32
	mailWait   []uint32 // send answered → the outbox poll that found the mail
	requests   int64    // responses of any status
	successes  int64
	errors     int64 // transport failures and timeouts
	status     map[int]int64
	byStep     [numSteps]map[int]int64 // every response's status, per step
	flows      int64
	flowErrors int64
}

func (r *recorder) response(s step, d time.Duration, status int, ok bool) {
	r.requests++
	if r.byStep[s] == nil {
		r.byStep[s] = map[int]int64{}
	}
	r.byStep[s][status]++
	if !ok {
		if r.status == nil {
			r.status = map[int]int64{}
		}
		r.status[status]++
		return
	}
	r.successes++
	r.lat[s] = append(r.lat[s], micros(d))
}

// micros converts d to whole microseconds, saturating at the uint32 range
// (71 minutes, longer than any allowed timeout).
func micros(d time.Duration) uint32 {
	us := d.Microseconds()
	if us < 0 {
		return 0
	}
	if us > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(us)
}

// merge adds o to r, moving o's samples.
func (r *recorder) merge(o *recorder) {
	for s := range numSteps {
		r.lat[s] = append(r.lat[s], o.lat[s]...)
		for code, n := range o.byStep[s] {
			if r.byStep[s] == nil {
				r.byStep[s] = map[int]int64{}
			}
			r.byStep[s][code] += n
		}
	}
	r.mailWait = append(r.mailWait, o.mailWait...)
	r.requests += o.requests
	r.successes += o.successes
	r.errors += o.errors
	r.flows += o.flows
	r.flowErrors += o.flowErrors
	for code, n := range o.status {
		if r.status == nil {
			r.status = map[int]int64{}
		}
		r.status[code] += n
	}
}

// stepStats is the latency summary of one step.
type stepStats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// latencies summarizes every step that has samples, sorting them in place.
func (r *recorder) latencies() map[string]stepStats {
	out := map[string]stepStats{}
	for s := range numSteps {
		if len(r.lat[s]) > 0 {
			out[s.String()] = summarize(r.lat[s])
		}
	}
	return out
}

// summarize sorts samples (microseconds) and returns their percentiles.
func summarize(samples []uint32) stepStats {
	slices.Sort(samples)
	ms := func(us uint32) float64 { return round(float64(us)/1000, 3) }
	return stepStats{
		Count: len(samples),
		P50:   ms(percentile(samples, 5000)),
		P90:   ms(percentile(samples, 9000)),
		P99:   ms(percentile(samples, 9900)),
		Max:   ms(percentile(samples, 10000)),
	}
}

// percentile returns the nearest-rank percentile of sorted samples: the
// smallest sample with at least perMyriad/10000 of all samples at or
// below it (5000 is the median, 10000 the maximum). Integer arithmetic
// keeps p99 of 100 samples exactly the 99th.
func percentile(sorted []uint32, perMyriad int) uint32 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (perMyriad*n + 9999) / 10000 // ceil(p·n)
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// statusCounts turns status counts into the report's string keys.
func statusCounts(m map[int]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for code, n := range m {
		out[strconv.Itoa(code)] = n
	}
	return out
}

// round rounds x to n decimals, for readable JSON.
func round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}
