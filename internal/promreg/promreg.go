// Package promreg registers the module's package-level Prometheus collectors
// with the registry Caddy hands each config load.
//
// Caddy makes a fresh registry on every config load; registering the same
// collectors again keeps their counts across reloads. Every handler package
// of this module (intercom, intercom_help_center, identity_assertion) does
// that, so the rule lives here once.
package promreg

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers cs with reg (nil in some test contexts), tolerating
// collectors that this registry already has.
func Register(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	return nil
}
