#pragma once

#include "cluster/redisclient.h"

#include <QString>

#include <memory>
#include <optional>

class MainWindow;
class RedisTaskSource;

// The dashboard on a cluster (issue 13, `taskdeck --redis URL`): which Redis it shows,
// where it keeps its archive, and what it adds to the window. Main thread.
namespace ClusterDashboard {

// The Redis named by `text` (--redis, else TASKDECK_REDIS); nullopt with *error empty
// when there is none (the local engine), with a one-line *error when it is malformed.
std::optional<RedisUrl> url(const QString &text, const QString &caFile, const QString &ns,
                            QString *error);
// The archive of namespace `ns`: a data directory of its own under `base`, so that its
// ids never meet the local engine's.
QString dataDir(const QString &base, const QString &ns);
std::unique_ptr<RedisTaskSource> makeSource(const RedisUrl &url, const QString &ns);
// The Workers dock and the window title naming the cluster.
void addToWindow(MainWindow &window, RedisTaskSource *source);

} // namespace ClusterDashboard
