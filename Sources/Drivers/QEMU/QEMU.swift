/// Namespace for QEMU: its QMP client (`QEMU.QMPClient`), QMP wire types and errors.
public enum QEMU {}
