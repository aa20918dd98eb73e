// MARK: - vm.resize

extension VirtualMachineMonitor {
    /// `vm.resize {desired_vcpus, desired_ram, desired_balloon}`. Maps to `PUT /api/v1/vm.resize`.
    ///
    /// Booted: vCPUs up to `cpus.max_vcpus`; RAM up to `memory.size + memory.hotplug_size`, growing
    /// only with ACPI hotplug, growing or shrinking down to the boot size with virtio-mem; the
    /// balloon needs a balloon device and at most the guest's RAM. Every request is checked before
    /// anything changes. The config records the result (`boot_vcpus`, `hotplugged_size`,
    /// `balloon.size`), as Cloud Hypervisor's does.
    ///
    /// Not booted: edits the stored config (`boot_vcpus`, `memory.size`, `balloon.size`).
    /// - Throws: 400 for a bad body, 404 without a config, 500 for a request outside the limits.
    func resize(body: [UInt8]) throws(APIError) {
        let action = "Error resizing VM"
        let request = try ConfigValidation.actionBody(body, Schemas.vmResize)
        guard var config else { throw APIError.notCreated(action) }
        let vcpus = request["desired_vcpus"]?.intValue
        let ram = request["desired_ram"]?.intValue
        let balloon = request["desired_balloon"]?.intValue
        let memory = MemoryAccounting(config: config)
        let maxVcpus = config["cpus"]?["max_vcpus"]?.intValue ?? 1

        if let vcpus, vcpus > maxVcpus {
            throw APIError(.failed, action, "Desired vCPU count \(vcpus) is higher than max_vcpus \(maxVcpus)")
        }
        if balloon != nil, config.present("balloon") == nil {
            throw APIError(.failed, action, "No balloon device: the VM was not configured with a balloon")
        }

        if vm == nil {
            if let vcpus { config["cpus"]?["boot_vcpus"] = .int(vcpus) }
            if let ram { config["memory"]?["size"] = .int(ram) }
            if let balloon {
                let total = ram ?? memory.configuredTotal
                guard balloon < total else {
                    throw APIError(.failed, action, "Desired balloon size \(balloon) must be smaller than RAM \(total)")
                }
                config["balloon"]?["size"] = .int(balloon)
            }
            replaceConfig(config)
            return
        }

        var newTotal = memory.configuredTotal
        if let ram, ram != memory.configuredTotal {
            try checkRAM(ram, memory, action)
            newTotal = ram
        }
        if let balloon, balloon > newTotal {
            throw APIError(.failed, action, "Desired balloon size \(balloon) is larger than the guest RAM \(newTotal)")
        }

        if let vcpus { config["cpus"]?["boot_vcpus"] = .int(vcpus) }
        if ram != nil, newTotal != memory.configuredTotal, !resizeDropsRAM {
            config["memory"]?["hotplugged_size"] = .int(newTotal - memory.bootSize)
        }
        if let balloon { config["balloon"]?["size"] = .int(balloon) }
        replaceConfig(config)
    }

    private func checkRAM(_ ram: Int64, _ memory: MemoryAccounting, _ action: String) throws(APIError) {
        if memory.hotplugRoom == 0 {
            throw APIError(.failed, action, "Memory hotplug is not enabled: boot the VM with memory.hotplug_size")
        }
        if ram > memory.ceiling {
            throw APIError(
                .failed, action,
                "Desired RAM \(ram) exceeds boot memory \(memory.bootSize) + hotplug_size \(memory.hotplugRoom)")
        }
        if ram < memory.configuredTotal && !memory.virtioMem {
            throw APIError(
                .failed, action,
                "Cannot shrink memory from \(memory.configuredTotal) to \(ram) with ACPI hotplug while the VM runs")
        }
        if ram < memory.bootSize {
            throw APIError(.failed, action, "Desired RAM \(ram) is below the boot memory \(memory.bootSize)")
        }
    }

    // MARK: - vm.resize-disk

    /// `vm.resize-disk {id, desired_size}`: not simulated; answers 404 for an unknown disk id and
    /// 500 otherwise.
    ///
    /// - Throws: always.
    func resizeDisk(body: [UInt8]) throws(APIError) {
        let action = "Error resizing disk"
        let request = try ConfigValidation.actionBody(body, Schemas.vmResizeDisk)
        guard let config else { throw APIError.notCreated(action) }
        let id = request["id"]?.stringValue ?? ""
        let known = (config["disks"]?.arrayValue ?? []).contains { $0["id"]?.stringValue == id }
        guard known else { throw APIError(.notFound, action, "No disk with id \(id)") }
        throw APIError(.failed, action, "Disk resize is not supported by cloud-hypervisor-sim")
    }
}
