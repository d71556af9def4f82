//go:build !linux

package testcaddy

import "os/exec"

// DieWithParent is a no-op outside Linux (the harness reads /proc anyway).
func DieWithParent(cmd *exec.Cmd) {}
