package main

import (
	"os"
	"testing"

	"github.com/latch-auth/latch/internal/redistest"
)

// TestMain stops the redis-server that redistest may start for these tests.
func TestMain(m *testing.M) { os.Exit(redistest.Run(m)) }
