package main

// report is the JSON line the tool prints. Fields that need -pids or
// -baseline are left out without them.
type report struct {
	Mode         string               `json:"mode"`
	URL          string               `json:"url"`
	Concurrency  int                  `json:"concurrency"`
	DurationS    float64              `json:"duration_s"`
	WarmupS      float64              `json:"warmup_s"`
	Requests     int64                `json:"requests"`
	RequestsPerS float64              `json:"requests_per_s"`
	Flows        int64                `json:"flows"`
	FlowsPerS    float64              `json:"flows_per_s"`
	FlowErrors   int64                `json:"flow_errors"`
	Latency      map[string]stepStats `json:"latency"`
	MailWait     *stepStats           `json:"mail_wait,omitempty"`
	Errors       int64                `json:"errors"`
	Non2xx       map[string]int64     `json:"non_2xx"`
	Interrupted  bool                 `json:"interrupted,omitempty"`

	PIDs            []int    `json:"pids,omitempty"`
	ServerCPUS      *float64 `json:"server_cpu_s,omitempty"`
	CPUUsPerRequest *float64 `json:"cpu_us_per_request,omitempty"`
	CPUUsPerFlow    *float64 `json:"cpu_us_per_flow,omitempty"`
	PeakRSSMB       *float64 `json:"peak_rss_mb,omitempty"`
	VmHWMMB         *float64 `json:"vm_hwm_mb,omitempty"`
	ClientCPUS      float64  `json:"client_cpu_s"`

	Baseline           *baselineReport `json:"baseline,omitempty"`
	RatioToBaseline    *float64        `json:"ratio_to_baseline,omitempty"`
	CPURatioToBaseline *float64        `json:"cpu_ratio_to_baseline,omitempty"`
}

// baselineReport is the bare net/http server under the same load.
type baselineReport struct {
	Requests        int64                `json:"requests"`
	RequestsPerS    float64              `json:"requests_per_s"`
	CPUUsPerRequest *float64             `json:"cpu_us_per_request,omitempty"`
	PeakRSSMB       *float64             `json:"peak_rss_mb,omitempty"`
	Errors          int64                `json:"errors"`
	Latency         map[string]stepStats `json:"latency"`
}

func ptr(x float64) *float64 { return &x }

func (r *result) seconds() float64 { return r.window.Seconds() }

func (r *result) cpuSeconds() float64 { return float64(r.cpuTicks) / float64(r.ticksPerSec) }

// cpuPerRequest is the servers' CPU microseconds per response, or nil
// when there is no measure.
func (r *result) cpuPerRequest() *float64 {
	if len(r.pids) == 0 || r.rec.requests == 0 {
		return nil
	}
	return ptr(round(r.cpuSeconds()*1e6/float64(r.rec.requests), 1))
}

func (r *result) rate(n int64) float64 {
	if r.window <= 0 {
		return 0
	}
	return round(float64(n)/r.seconds(), 1)
}

func (r *result) report(o *options) *report {
	rep := &report{
		Mode:         r.mode,
		URL:          o.base,
		Concurrency:  o.conc,
		DurationS:    round(r.seconds(), 3),
		WarmupS:      o.warmup.Seconds(),
		Requests:     r.rec.requests,
		RequestsPerS: r.rate(r.rec.requests),
		Flows:        r.rec.flows,
		FlowsPerS:    r.rate(r.rec.flows),
		FlowErrors:   r.rec.flowErrors,
		Latency:      r.rec.latencies(),
		Errors:       r.rec.errors,
		Non2xx:       statusCounts(r.rec.status),
		Interrupted:  r.interrupted,
		ClientCPUS:   round(float64(r.clientTicks)/float64(r.ticksPerSec), 3),
	}
	if len(r.rec.mailWait) > 0 {
		mw := summarize(r.rec.mailWait)
		rep.MailWait = &mw
	}
	if len(r.pids) > 0 {
		rep.PIDs = r.pids
		rep.ServerCPUS = ptr(round(r.cpuSeconds(), 3))
		rep.CPUUsPerRequest = r.cpuPerRequest()
		if r.rec.flows > 0 {
			rep.CPUUsPerFlow = ptr(round(r.cpuSeconds()*1e6/float64(r.rec.flows), 1))
		}
		rep.PeakRSSMB = ptr(round(float64(r.peakRSSKB)/1024, 1))
		rep.VmHWMMB = ptr(round(float64(r.hwmKB)/1024, 1))
	}
	return rep
}

// addBaseline adds the baseline run and the ratios to it.
func (rep *report) addBaseline(b *result) {
	rep.Baseline = &baselineReport{
		Requests:        b.rec.requests,
		RequestsPerS:    b.rate(b.rec.requests),
		CPUUsPerRequest: b.cpuPerRequest(),
		PeakRSSMB:       ptr(round(float64(b.peakRSSKB)/1024, 1)),
		Errors:          b.rec.errors,
		Latency:         b.rec.latencies(),
	}
	if rep.Baseline.RequestsPerS > 0 {
		rep.RatioToBaseline = ptr(round(rep.RequestsPerS/rep.Baseline.RequestsPerS, 4))
	}
	if rep.CPUUsPerRequest != nil && rep.Baseline.CPUUsPerRequest != nil && *rep.Baseline.CPUUsPerRequest > 0 {
		rep.CPURatioToBaseline = ptr(round(*rep.CPUUsPerRequest / *rep.Baseline.CPUUsPerRequest, 2))
	}
}
