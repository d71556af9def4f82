// Package testpages holds the page head that the benchmark's generated pages
// start with, so that the injector's own scanner benchmark reads the same
// bytes as the load test in bench/.
package testpages

// Head is the head every generated page starts with: about 2 KiB of meta
// tags, links and inline CSS, ending with the page's first script, which is
// where the intercom handler injects. {{SIZE}} stands for the page size, so
// that pages of different sizes differ from the first line.
const Head = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Account overview ({{SIZE}} bytes) | Example App</title>
<meta name="description" content="A generated page of a legacy web application, used to measure the cost of identifying the Intercom Messenger at the edge.">
<link rel="preconnect" href="https://cdn.example.com">
<link rel="icon" href="/static/favicon.ico">
<link rel="stylesheet" href="/static/app.3f9c2a.css">
<style>
:root { --fg: #1d1d1f; --muted: #6e6e73; --accent: #0a66c2; --bg: #fbfbfd; --card: #ffffff; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; align-items: center; justify-content: space-between; padding: 12px 24px; border-bottom: 1px solid #e5e5ea; background: var(--card); }
header.top nav a { margin-left: 16px; color: var(--muted); text-decoration: none; }
header.top nav a.active { color: var(--accent); font-weight: 600; }
main { max-width: 1080px; margin: 24px auto; padding: 0 24px; }
.card { background: var(--card); border-radius: 12px; box-shadow: 0 1px 3px rgba(0,0,0,.08); padding: 20px 24px; margin-bottom: 16px; }
.card h2 { margin: 0 0 8px; font-size: 18px; }
table.data { width: 100%; border-collapse: collapse; font-size: 14px; }
table.data th, table.data td { text-align: left; padding: 8px 12px; border-bottom: 1px solid #f0f0f5; }
table.data tr:hover td { background: #f7f9fc; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 999px; font-size: 12px; background: #eef4fb; color: var(--accent); }
footer { color: var(--muted); font-size: 13px; text-align: center; padding: 32px 0; }
@media (max-width: 640px) { header.top nav { display: none; } main { padding: 0 12px; } }
</style>
<script src="/static/app.8b1e4d.js" defer></script>
</head>
<body>
<header class="top"><a href="/" class="logo">Example</a><nav><a href="/" class="active">Overview</a><a href="/billing">Billing</a><a href="/settings">Settings</a></nav></header>
<main>
`
