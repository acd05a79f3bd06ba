/// The uid and gid the agent runs as inside the sandbox (`ImageRecipe.sandboxUser` decides them).
public struct SandboxUser: Equatable, Hashable, Sendable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}
