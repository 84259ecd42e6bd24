// Prints one plain closing line ("jest: N passed, N failed, N skipped") that CI reads.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const { numPassedTests: passed, numFailedTests: failed, numPendingTests: skipped, numTodoTests: todo } = results;
    console.log(`\njest: ${passed} passed, ${failed} failed, ${skipped + todo} skipped`);
  }
}
module.exports = SummaryReporter;
