package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unsafe"
)

// cpuTicks returns a process's user plus system CPU time in clock ticks,
// from fields 14 and 15 of /proc/PID/stat.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself; the fields after the last ')' start at 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("process %d: unexpected /proc/%d/stat", pid, pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("process %d: unexpected /proc/%d/stat", pid, pid)
	}
	utime, err1 := strconv.ParseUint(string(f[14-3]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[15-3]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("process %d: unexpected /proc/%d/stat", pid, pid)
	}
	return utime + stime, nil
}

// sumCPUTicks adds cpuTicks over pids; a process that has gone counts 0.
func sumCPUTicks(pids []int) uint64 {
	var sum uint64
	for _, pid := range pids {
		t, _ := cpuTicks(pid)
		sum += t
	}
	return sum
}

// cpuSince is the CPU time pids have used since they had used before;
// 0 when a process has gone since (its ticks no longer count).
func cpuSince(before uint64, pids []int) uint64 {
	now := sumCPUTicks(pids)
	return now - min(before, now)
}

// statusKB returns a "Name:   N kB" field of /proc/PID/status in kB.
func statusKB(pid int, name string) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(name+":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			break
		}
		return strconv.ParseUint(string(f[0]), 10, 64)
	}
	return 0, fmt.Errorf("process %d: no %s in /proc/%d/status", pid, name, pid)
}

// sumKB adds statusKB over pids.
func sumKB(pids []int, name string) uint64 {
	var sum uint64
	for _, pid := range pids {
		kb, _ := statusKB(pid, name)
		sum += kb
	}
	return sum
}

// rssSampler keeps the largest VmRSS (summed over its processes) seen
// every 100ms until stopped. VmHWM would be cheaper but covers the whole
// life of a process, start-up and earlier runs included.
type rssSampler struct {
	pids []int
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64 // kB; read after stop
}

func startRSSSampler(pids []int) *rssSampler {
	s := &rssSampler{pids: pids, stop: make(chan struct{})}
	if len(pids) == 0 {
		return s
	}
	s.peak = sumKB(pids, "VmRSS")
	s.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.peak = max(s.peak, sumKB(s.pids, "VmRSS"))
			}
		}
	})
	return s
}

// finish stops sampling, takes one last sample and returns the peak in kB.
func (s *rssSampler) finish() uint64 {
	close(s.stop)
	s.wg.Wait()
	if len(s.pids) > 0 {
		s.peak = max(s.peak, sumKB(s.pids, "VmRSS"))
	}
	return s.peak
}

// clockTicks returns the kernel's clock ticks per second (USER_HZ, what
// getconf CLK_TCK prints), read from the AT_CLKTCK entry of the auxiliary
// vector, so no cgo sysconf is needed. It is 100 on every mainstream Linux
// (and on this project's machines); 100 is also the fallback.
func clockTicks() uint64 {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	word := int(unsafe.Sizeof(uintptr(0)))
	read := func(p []byte) uint64 {
		if word == 8 {
			return binary.NativeEndian.Uint64(p)
		}
		return uint64(binary.NativeEndian.Uint32(p))
	}
	for i := 0; i+2*word <= len(b); i += 2 * word {
		if read(b[i:]) == atClkTck {
			if v := read(b[i+word:]); v > 0 {
				return v
			}
		}
	}
	return 100
}
