module github.com/tunstack/tunstack

go 1.26.0

require (
	github.com/google/gopacket v1.1.19
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/chromedp/cdproto v0.160.1
	github.com/chromedp/chromedp v0.23.1
	github.com/songgao/water v0.0.0-20200317203138-2b4b6d7c09d8
)

require github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
