extension CloudHypervisor {
    /// Where CH sandboxes' files live: the layout every runtime shares.
    public typealias Layout = SandboxLayout
    /// The record beside every CH sandbox: the record every runtime shares.
    public typealias Metadata = SandboxRecord
}
