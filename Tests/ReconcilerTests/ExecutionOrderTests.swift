import Foundation
@testable import Reconciler
import Resources
import Testing

/// The executor's graph: an action waits for earlier actions on its resource and on the
/// resources it depends on, and for nothing else.
@Suite("Execution order of a plan's actions")
struct ExecutionOrderTests {
    @Test("earlier actions on the same resource and on its dependencies, nothing else")
    func dependencies() {
        let pool = ResourceID(.tapPool, "default"), a = ResourceID(.sandbox, "a"), b = ResourceID(.sandbox, "b")
        let actions = [
            Action(pool, .create, reason: "new"),                      // 0
            Action(a, .create, reason: "new", dependsOn: [pool]),      // 1
            Action(b, .balloon, reason: "policy"),                     // 2
            Action(a, .pause, reason: "spec"),                         // 3
            Action(b, .resize, reason: "spec", dependsOn: [pool, a]),  // 4
        ]
        #expect(Reconciler.dependencies(of: actions) == [[], [0], [], [1], [0, 1, 2, 3]])
    }

    @Test("a thousand independent actions wait for nothing")
    func independent() {
        let actions = (0..<1000).map { Action(ResourceID(.sandbox, "s\($0)"), .balloon, reason: "policy") }
        let waits = Reconciler.dependencies(of: actions)
        #expect(waits.count == 1000 && waits.allSatisfy { $0.isEmpty })
    }
}
