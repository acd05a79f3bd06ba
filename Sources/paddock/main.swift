import PaddockCommands

// The whole command tree lives in PaddockCommands; this target only starts it.
await Paddock.launch()
