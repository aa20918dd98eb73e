import Foundation
import Glibc
import Reconciler

extension Cuttlefish {
    /// The files and processes cvd leaves on the host for one instance number, and how to
    /// tell Converge's from anyone else's. Everything here acts on this uid's files only.
    public struct HostFiles: Sendable {
        /// Where `cf_avd_<uid>` and `cf_env_<uid>` live (/tmp on a real host).
        public var tmp: String
        /// cvd's `local-instance-<id>.lock` files.
        public var locks: String
        public var uid: uid_t = getuid()

        /// The instance's sockets directory: run_cvd's launcher and crosvm's control socket.
        public func socketsDirectory(_ id: Int) -> String { "\(tmp)/cf_avd_\(uid)/cvd-\(id)" }
        public func environmentDirectory(_ id: Int) -> String { "\(tmp)/cf_env_\(uid)/cvd-\(id)" }
        public func lockFile(_ id: Int) -> String { "\(locks)/local-instance-\(id).lock" }

        /// The live crosvm of instance `id` (health layer 3): a process of this uid named
        /// crosvm whose arguments hold the instance's socket directory. The trailing slash
        /// keeps `cvd-1/` from matching `cvd-10/`.
        public func crosvm(_ id: Int) -> ProcessIdentity? {
            crosvms(of: id).first
        }

        func crosvms(of id: Int) -> [ProcessIdentity] {
            let needle = socketsDirectory(id) + "/"
            return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).sorted().compactMap { pid in
                var info = stat()
                guard lstat("/proc/\(pid)", &info) == 0, info.st_uid == uid,
                      let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
                let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                guard args.prefix(2).contains(where: { $0.split(separator: "/").last == "crosvm" }),
                      args.contains(where: { $0.contains(needle) }) else { return nil }
                return ProcFS.identity(of: pid)
            }
        }

        /// Kills every crosvm of instance `id` (by pid, after checking what it runs).
        func killCrosvms(_ id: Int) async throws {
            for process in crosvms(of: id) {
                kill(process.pid, SIGKILL)
                try await VMMProcess.terminate(process, grace: 2, step: "cuttlefish.instance.clean")
            }
        }

        /// What a crashed run of instance `id` left: sockets, its environment directory, and
        /// a lock marked in use. Only meaningful when no group holds the id and no crosvm runs it.
        public func staleFiles(_ id: Int) -> [String] {
            var found = [socketsDirectory(id), environmentDirectory(id)].filter { FileManager.default.fileExists(atPath: $0) }
            if let lock = try? String(contentsOfFile: lockFile(id), encoding: .utf8), lock.hasPrefix("I") { found.append(lockFile(id)) }
            return found
        }

        /// Removes what `staleFiles` names. A lock is deleted (cvd treats a missing lock as free).
        func removeStaleFiles(_ id: Int) throws {
            for path in staleFiles(id) {
                do { try FileManager.default.removeItem(atPath: path) } catch CocoaError.fileNoSuchFile {}
            }
        }
    }
}
