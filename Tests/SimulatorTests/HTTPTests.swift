import Foundation
import Glibc
import Testing

@Suite("HTTP and validation")
struct HTTPTests {
    @Test("malformed JSON is rejected with 400 and a JSON array of strings")
    func malformedJSON() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let reply = try sim.put("vm.create", "{\"payload\": {")
            #expect(reply.status == 400)
            #expect(reply.headers["content-type"] == "application/json")
            #expect(reply.errorMessages?.isEmpty == false)
            let missing = try sim.put("vm.create")
            #expect(missing.status == 400)
            let types = try sim.put("vm.create", "{\"payload\":{\"kernel\":\"/k\"},\"memory\":{\"size\":\"1G\"}}")
            #expect(types.status == 400)
            #expect(types.body.contains("memory.size"))
            let noKernel = try sim.put("vm.create", "{\"payload\":{}}")
            #expect(noKernel.status == 400)
            let badMax = try sim.put("vm.create", "{\"payload\":{\"kernel\":\"/k\"},\"cpus\":{\"boot_vcpus\":4,\"max_vcpus\":2}}")
            #expect(badMax.status == 400)
            let lowerCase = try sim.put("vm.create", "{\"payload\":{\"kernel\":\"/k\"},\"memory\":{\"size\":1073741824,\"hotplug_method\":\"acpi\"}}")
            #expect(lowerCase.status == 400)
            #expect(try sim.get("vm.info").status == 404)
        }
    }

    @Test("a duplicate disk path or device id is rejected with 409")
    func duplicates() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let disk = dir.touch("d.img")
            let reply = try sim.put("vm.create", vmConfigBody(dir, disks: [disk, disk]))
            #expect(reply.status == 409)
            #expect(reply.errorMessages?.joined().contains(disk) == true)
            let body = "{\"payload\":{\"kernel\":\"/k\"},\"disks\":[{\"path\":\"/a\",\"id\":\"x\"}],\"net\":[{\"tap\":\"t\",\"id\":\"x\"}]}"
            #expect(try sim.put("vm.create", body).status == 409)
            #expect(try sim.get("vm.info").status == 404)
        }
    }

    @Test("unknown endpoints answer 404 and a wrong method on a known path 400")
    func routing() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let unknown = try sim.put("vm.frobnicate")
            #expect(unknown.status == 404)
            #expect(unknown.errorMessages != nil)
            #expect(try sim.call("GET", "vm.boot").status == 400)
            #expect(try sim.call("PUT", "vmm.ping").status == 400)
            #expect(try UnixHTTPClient(socketPath: sim.socketPath).request("GET", "/other").status == 404)
        }
    }

    @Test("keep-alive serves several requests on one connection and Connection: close closes it")
    func keepAlive() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            let client = try UnixHTTPClient(socketPath: sim.socketPath)
            for _ in 0..<3 { #expect(try client.request("GET", "/api/v1/vmm.ping").status == 200) }
            // Two pipelined requests in one write.
            try client.sendRaw("GET /api/v1/vmm.ping HTTP/1.1\r\n\r\nGET /api/v1/vm.info HTTP/1.1\r\n\r\n")
            #expect(try client.readReply().status == 200)
            #expect(try client.readReply().status == 404)
            let reply = try client.request("GET", "/api/v1/vmm.ping", extraHeaders: ["Connection: close"])
            #expect(reply.status == 200)
            #expect(reply.headers["connection"] == "close")
            #expect(client.isClosedByPeer())
        }
    }

    @Test("malformed HTTP gets 400 and the connection is closed, and the server keeps serving")
    func malformedHTTP() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir)
            sims.append(sim)
            for garbage in ["hello\r\n\r\n", "GET /api/v1/vmm.ping HTTP/9.9\r\n\r\n",
                            "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                            "PUT /api/v1/vm.create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                            "GET /api/v1/vmm.ping HTTP/1.1\r\nno colon here\r\n\r\n"] {
                let client = try UnixHTTPClient(socketPath: sim.socketPath)
                try client.sendRaw(garbage)
                let reply = try client.readReply()
                #expect(reply.status == 400)
                #expect(reply.errorMessages != nil)
                #expect(client.isClosedByPeer())
            }
            let binary = try UnixHTTPClient(socketPath: sim.socketPath)
            try binary.sendRaw(String(repeating: "\u{1}\u{2}", count: 500) + "\r\n\r\n")
            #expect(try binary.readReply().status == 400)
            #expect(try sim.get("vmm.ping").status == 200)
        }
    }

    @Test("CH_SIM_DELAY_MS_VM_BOOT delays that reply without blocking other clients")
    func delayedReply() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir, environment: ["CH_SIM_DELAY_MS_VM_BOOT": "800"])
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 204)
            let slow = try UnixHTTPClient(socketPath: sim.socketPath)
            let start = Date()
            try slow.sendRaw("PUT /api/v1/vm.boot HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            // Another client is answered while the boot is still pending: its reply has not
            // come and the VM has not booted.
            let ping = try sim.get("vmm.ping")
            #expect(ping.status == 200)
            #expect(slow.receivesNothing(withinMilliseconds: 0), "vm.boot answered before vmm.ping")
            #expect(try sim.state() == "Created")
            #expect(try slow.readReply().status == 204)
            #expect(Date().timeIntervalSince(start) >= 0.8, "vm.boot was not delayed")
            #expect(try sim.state() == "Running")
        }
    }

    @Test("CH_SIM_EXIT_ON=vm.boot makes the process exit 1 without a response")
    func exitOn() throws {
        try withTempDir { dir, sims in
            let sim = try SimProcess.start(in: dir, environment: ["CH_SIM_EXIT_ON": "vm.boot"])
            sims.append(sim)
            #expect(try sim.put("vm.create", vmConfigBody(dir)).status == 204)
            #expect(throws: (any Error).self) { try sim.put("vm.boot") }
            #expect(sim.waitForExit() == 1)
            // Like a crash: the socket and lock stay behind.
            #expect(FileManager.default.fileExists(atPath: sim.socketPath + ".lock"))
        }
    }
}
