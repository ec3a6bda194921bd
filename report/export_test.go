package report

// For the tests of package report_test (html_browser_test.go), which may
// import what imports report.
var (
	HTMLTestRun = htmlRun
	TestImageID = testImageID
)
