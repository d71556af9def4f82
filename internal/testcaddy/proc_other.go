//go:build !linux

package testcaddy

import (
	"errors"
	"os/exec"
)

// DieWithParent is a no-op outside Linux (the harness reads /proc anyway).
func DieWithParent(cmd *exec.Cmd) {}

// lockFile is unavailable outside Linux: Binary then builds per process.
func lockFile(string) (func(), error) { return nil, errors.ErrUnsupported }
