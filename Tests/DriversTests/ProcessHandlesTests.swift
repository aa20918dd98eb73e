import Foundation
import Glibc
import Reconciler
import Testing
@testable import Drivers

/// Held pidfds answer for the very process /proc showed, until it exits.
@Suite("Process handles: one poll for many VMMs")
struct ProcessHandlesTests {
    /// A child of this process that runs until killed.
    func sleeper() throws -> (Process, ProcessIdentity) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["600"]
        try child.run()
        let identity = try #require(ProcFS.identity(of: child.processIdentifier))
        return (child, identity)
    }

    @Test("a running process is held and seen running; once killed it is not, and its handle is closed")
    func heldUntilExit() throws {
        let handles = ProcessHandles()
        let (a, idA) = try sleeper()
        let (b, idB) = try sleeper()
        defer { for child in [a, b] where child.isRunning { kill(child.processIdentifier, SIGKILL) } }

        #expect(handles.running([idA, idB]) == [idA, idB])
        #expect(handles.count == 2)
        #expect(handles.running([idA, idB]) == [idA, idB], "held handles polled")

        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        #expect(handles.running([idA, idB]) == [idB])
        #expect(handles.count == 1)
    }

    @Test("an identity with another start time (a reused pid) is never held nor running")
    func otherStartTime() throws {
        let handles = ProcessHandles()
        let (child, id) = try sleeper()
        defer { kill(child.processIdentifier, SIGKILL) }
        let impostor = ProcessIdentity(pid: id.pid, startTime: id.startTime + 1)
        #expect(handles.running([impostor]).isEmpty)
        #expect(handles.count == 0)
    }

    @Test("keep(only:) closes the handles of processes no longer named")
    func keepOnly() throws {
        let handles = ProcessHandles()
        let (a, idA) = try sleeper()
        let (b, idB) = try sleeper()
        defer { for child in [a, b] { kill(child.processIdentifier, SIGKILL) } }
        _ = handles.running([idA, idB])
        handles.keep(only: [idB])
        #expect(handles.count == 1)
        #expect(handles.running([idA, idB]) == [idA, idB], "a released process still runs, checked in /proc and held again")
        #expect(handles.count == 2)
    }
}
