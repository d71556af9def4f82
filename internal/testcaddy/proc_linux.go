package testcaddy

import (
	"os"
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

// lockFile takes an exclusive lock on path (created if missing), waiting
// for another process that holds it, and returns the unlock function.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}
