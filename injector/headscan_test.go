package injector

import (
	"testing"
)

// TestHeadScanAllocs checks the goal of issue 15: no allocation in the head
// scan, whatever the page holds (attributes, a <meta> policy and charset,
// templates with foreign content).
func TestHeadScanAllocs(t *testing.T) {
	pages := []string{
		benchHead,
		realisticPage,
		"<!DOCTYPE html><head><meta charset=utf-8><meta http-equiv=Content-Type content='text/html; charset=utf-8'>" +
			"<template><svg><foreignObject><div><style>x</style></div></foreignObject><![CDATA[x]]></svg></template>" +
			"<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'self'\"></head>",
	}
	for _, p := range pages {
		b := []byte(p)
		var s headScanner
		if n := testing.AllocsPerRun(100, func() {
			s = headScanner{}
			s.feed(b, true)
			s.finish()
		}); n != 0 {
			t.Errorf("%v allocations per head scan of %.40q", n, p)
		}
	}
}
