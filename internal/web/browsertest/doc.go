// Package browsertest drives Latch's login page in headless Chromium over
// the DevTools protocol (chromedp), against the real web server, engine,
// store and dev outbox, with JavaScript on and off.
//
// The tests need a Chromium binary: LATCH_TEST_CHROMIUM, else
// /usr/bin/chromium (Debian: apt-get install -y chromium). Without one they
// skip. Each test writes screenshots under testout/browser/<test>/ at the
// module root; LATCH_UPDATE_SCREENSHOTS=1 also refreshes docs/screenshots.
package browsertest
