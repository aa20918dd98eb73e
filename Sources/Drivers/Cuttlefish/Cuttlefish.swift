/// Namespace for Cuttlefish: the `cvd` and `adb` tools (`Cuttlefish.Tools`), `cvd fleet`'s
/// wire types, the host files cvd leaves, and the adapter that fits a device into the
/// shared sandbox lifecycle.
public enum Cuttlefish {
    /// The cvd group of sandbox `name`: `cvg_` and the name with `-` as `_` (group names
    /// allow no hyphen). Sandbox names are DNS labels, which hold no `_`, so two sandboxes
    /// never map to one group; the prefix makes Converge's groups recognisable.
    public static func groupName(_ name: String) -> String {
        "cvg_" + name.replacingOccurrences(of: "-", with: "_")
    }
}
