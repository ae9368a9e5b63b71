package boltstore_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latch-auth/latch/internal/boltstore"
	"github.com/latch-auth/latch/internal/mail/mailqueue/mailqueuetest"
)

// killDirEnv names the data directory of the child that TestMailQueueSurvivesKill kills.
const killDirEnv = "LATCH_TEST_MAILQUEUE_KILL_DIR"

// TestMailQueueKillChild is the child: it enqueues from many goroutines
// at once, printing each job's ID once Enqueue has returned, until it is
// killed. It does nothing in a normal run.
func TestMailQueueKillChild(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("the child of TestMailQueueSurvivesKill; runs only under it")
	}
	s, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := boltstore.OpenMailQueue(dir, s.DB())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				j := mailqueuetest.NewJob(t, mailqueuetest.Epoch)
				if _, err := q.Enqueue(context.Background(), j); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				out.WriteString(j.ID + "\n")
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// Every mail whose Enqueue returned is in the queue after the process is
// killed with SIGKILL mid-burst: the answer to a send comes after the commit.
func TestMailQueueSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process; skipped with -short")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMailQueueKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var accepted []string
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(30 * time.Second)
	for sc.Scan() && len(accepted) < 500 && time.Now().Before(deadline) {
		if line := strings.TrimSpace(sc.Text()); len(line) == 26 {
			accepted = append(accepted, line)
		}
	}
	cmd.Process.Kill()
	for sc.Scan() { // what was written before the kill was accepted too
		if line := strings.TrimSpace(sc.Text()); len(line) == 26 {
			accepted = append(accepted, line)
		}
	}
	cmd.Wait()
	if len(accepted) < 100 {
		t.Fatalf("the child accepted only %d mails before it was killed", len(accepted))
	}

	q, closeAll := mustOpenMailQueue(t, dir, false)
	defer closeAll()
	jobs, err := q.Claim(context.Background(), mailqueuetest.Epoch.Add(time.Hour), time.Minute, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, j := range jobs {
		have[j.ID] = true
	}
	for _, id := range accepted {
		if !have[id] {
			t.Fatalf("mail %s was accepted before the kill and is gone (%d accepted, %d in the queue)", id, len(accepted), len(jobs))
		}
	}
	t.Logf("%d accepted before the kill, %d in the queue after it", len(accepted), len(jobs))
}
