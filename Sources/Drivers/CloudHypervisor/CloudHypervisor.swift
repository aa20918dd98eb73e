/// Namespace for Cloud Hypervisor: its REST API wire types, its client, and the
/// `SandboxRuntime` that runs one CH process per sandbox.
public enum CloudHypervisor {}
