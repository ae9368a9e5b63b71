package mailqueue

import (
	"math"
	"sync"
	"time"
)

// The adaptive limit's constants, after the gradient limits of Netflix's
// concurrency-limits: the limit grows by one per delivery (doubling every
// round trip) while deliveries keep the latency the relay has without
// load, and shrinks as the recent latency rises past tolerance × that,
// which is what a relay that cannot keep up does. By Little's law (in flight = rate × latency)
// a relay that takes 100 ms a message needs 100 in flight for 1,000
// mails/s; one that queues what it cannot serve only grows its latency.
//
// The no-load latency is the least seen, drifting up towards the recent
// latency over about baseDrift deliveries, so that a relay that has
// become slower for good is learnt again.
const (
	limitTolerance = 2.0     // recent latency this far above the no-load one means a queue
	limitSmoothing = 0.2     // weight of each delivery's proposal
	shortWindow    = 10.0    // deliveries in the recent latency average
	baseDrift      = 50000.0 // deliveries over which the no-load latency forgets
	failureBackoff = 0.9     // the limit's factor on a failed delivery
	minLimit       = 1.0     // the floor below any start
)

// limiter decides how many deliveries may be in flight. It is safe for
// concurrent use.
type limiter struct {
	mu          sync.Mutex
	lo, hi      float64 // bounds
	limit       float64
	short, base float64 // recent average and no-load latency, in seconds
	samples     int
	changed     func(int) // told the new whole limit when it changes; may be nil
	last        int
}

// newLimiter starts at start (at least 1, at most hi) and never goes
// below it or above hi.
func newLimiter(start, hi int, changed func(int)) *limiter {
	lo := math.Max(minLimit, math.Min(float64(start), float64(hi)))
	return &limiter{lo: lo, hi: math.Max(lo, float64(hi)), limit: lo, changed: changed, last: int(lo)}
}

// current is the whole number of deliveries allowed in flight.
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// observe takes one delivery's latency; failed is a temporary failure
// (the relay refused for now or could not be reached), which backs off
// at once. inFlight is how many were in flight when it ended: a limit
// that is not being used learns nothing about the relay, so it holds.
func (l *limiter) observe(rtt time.Duration, inFlight int, failed bool) {
	x := rtt.Seconds()
	l.mu.Lock()
	if l.samples == 0 {
		l.short, l.base = x, x
	} else {
		l.short += (x - l.short) / shortWindow
		l.base = math.Min(x, l.base+(l.short-l.base)/baseDrift)
	}
	l.samples++
	switch {
	case failed:
		l.limit = math.Max(l.lo, l.limit*failureBackoff)
	case float64(inFlight) < l.limit/2:
		// Not enough in flight to tell anything.
	default:
		gradient := 1.0
		if l.short > 0 {
			gradient = math.Max(0.5, math.Min(1, limitTolerance*l.base/l.short))
		}
		if gradient >= 1 {
			// No sign of a queue at the relay: one more for each delivery,
			// which doubles the limit every round trip (TCP's slow start).
			l.limit = math.Min(l.hi, l.limit+1)
			break
		}
		proposal := l.limit*gradient + math.Sqrt(l.limit)
		l.limit = math.Max(l.lo, math.Min(l.hi, l.limit*(1-limitSmoothing)+proposal*limitSmoothing))
	}
	n := int(l.limit)
	changed := n != l.last
	l.last = n
	l.mu.Unlock()
	if changed && l.changed != nil {
		l.changed(n)
	}
}
