/// Limits on what a spec tree may hold, so that no input can crash, stall or exhaust
/// the loader. Each one is generous for real specs (a Sandbox is a few hundred bytes,
/// four levels deep, a dozen keys) and turns hostile or broken input into a diagnostic
/// that names the file, line and column.
///
/// Where Kubernetes has a rule we follow it: the size cap is close to etcd's 1.5 MiB
/// per object, and label keys and values follow its syntax rules
/// (k8s.io/apimachinery `validation.IsQualifiedName`, `IsValidLabelValue`).
public enum SpecLimits {
    /// Largest spec file, in bytes (1.5 MiB). Checked with `fstat` before anything is read.
    public static let maximumFileBytes = 1_572_864

    /// Deepest nesting of mappings and sequences; the document's root is level 1.
    /// Enforced while libyaml's events are read, so deep input never recurses deeply.
    public static let maximumDepth = 64

    /// Most keys in one mapping. Spec mappings have at most a dozen; labels have their own cap.
    public static let maximumKeysPerMapping = 1024

    /// Most `---`-separated documents in one file.
    public static let maximumDocumentsPerFile = 100

    /// Most diagnostics reported for one file; past it one more says how many were left out.
    public static let maximumDiagnosticsPerFile = 100

    /// Most labels on one resource.
    public static let maximumLabels = 64

    /// Longest label name, and longest label value (Kubernetes: 63).
    public static let maximumLabelNameLength = 63

    /// Longest label key prefix, a DNS subdomain (Kubernetes: 253).
    public static let maximumLabelPrefixLength = 253
}
