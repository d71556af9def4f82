package testcaddy

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes the kernel kill cmd's process when the process that
// started it dies, so that a benchmark or test killed mid-run (a go test
// timeout, a Ctrl-C at the wrong moment) leaves no caddy or upstream behind.
func DieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
