package testcaddy

import (
	"errors"
	"net"
	"sync"
)

// ReservedPorts are ports that tests on this machine use on purpose and
// FreePort never hands out: Caddy's default admin port and the fixed
// caddytest ports of the in-process integration tests (caddymodule,
// helpcenter, identityassertion), which run at the same time as ours
// because go test runs packages in parallel.
var ReservedPorts = map[int]bool{
	2019: true,
	2999: true, 9080: true, 9443: true, // caddymodule
	2998: true, 9180: true, 9543: true, // caddymodule/helpcenter
	2997: true, 9280: true, 9643: true, // caddymodule/identityassertion
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{} // ports this process handed out already
)

// FreePort returns a loopback TCP port the OS considers free and that this
// process has not handed out before (so that tests running in parallel in
// one package never get the same port). Another process may still take it
// before caddy binds it: StartFree retries with new ports.
func FreePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		handedMu.Lock()
		fresh := !handed[port] && !ReservedPorts[port]
		if fresh {
			handed[port] = true
		}
		handedMu.Unlock()
		if fresh {
			return port, nil
		}
	}
	return 0, errors.New("no free port found")
}

// FreePorts returns n distinct free ports.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}
