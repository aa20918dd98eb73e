import Foundation

/// Finds the base image a `source.image` names.
public struct ImageResolver: Sendable {
    public let imagesDirectory: String
    public let snapshotsDirectory: String
    public let baseImage: String?

    /// The candidate paths for `image`, in the order they are tried: an absolute path as
    /// is; otherwise `IMAGES/NAME.qcow2`, `IMAGES/NAME`, `IMAGES/NAME/disk.qcow2`, and the
    /// runners' layout `SNAPSHOTS/NAME/disk.qcow2`; then `CH_BASE_IMAGE_PATH` if its
    /// directory or file is called NAME.
    public func candidates(_ image: String) -> [String] {
        if image.hasPrefix("/") { return [image] }
        var paths = ["\(imagesDirectory)/\(image).qcow2", "\(imagesDirectory)/\(image)", "\(imagesDirectory)/\(image)/disk.qcow2",
                     "\(snapshotsDirectory)/\(image)/disk.qcow2"]
        if let base = baseImage {
            let url = URL(fileURLWithPath: base)
            if url.deletingLastPathComponent().lastPathComponent == image || url.deletingPathExtension().lastPathComponent == image {
                paths.append(base)
            }
        }
        return paths
    }

    /// The image's path, absolute: an overlay records its backing file, and qemu-img reads
    /// a relative one from the overlay's own directory.
    public func resolve(_ image: String) throws -> String {
        let paths = candidates(image)
        var isDirectory: ObjCBool = false
        for path in paths where FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue {
            return Paths.absolute(path)
        }
        throw ImageNotFound(image: image, looked: paths)
    }
}

/// A base image that is nowhere to be found.
public struct ImageNotFound: Error, Sendable, CustomStringConvertible {
    public var image: String
    public var looked: [String]
    public var description: String {
        "base image '\(image)' not found; looked for \(looked.joined(separator: ", ")). Put the image there or set CH_IMAGES_PATH"
    }
}
