//go:build e2e

package e2e

import _ "github.com/chromedp/chromedp"
