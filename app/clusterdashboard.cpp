#include "clusterdashboard.h"

#include "cluster/redistasksource.h"
#include "mainwindow.h"
#include "workersdock.h"

#include <QDir>

namespace ClusterDashboard {

std::optional<RedisUrl> url(const QString &text, const QString &caFile, const QString &ns,
                            QString *error)
{
    error->clear();
    if (text.isEmpty())
        return std::nullopt;
    auto url = RedisUrl::parse(text, error);
    if (!url)
        return std::nullopt;
    if (!caFile.isEmpty())
        url->caFile = caFile;
    if (ns.isEmpty() || ns.contains(u':')) {
        *error = QStringLiteral("a namespace is a non-empty name without ':'");
        return std::nullopt;
    }
    return url;
}

QString dataDir(const QString &base, const QString &ns)
{
    return QDir(base).filePath(QStringLiteral("cluster-") + ns);
}

std::unique_ptr<RedisTaskSource> makeSource(const RedisUrl &url, const QString &ns)
{
    RedisClient::Options options;
    options.url = url;
    options.clientName = QStringLiteral("taskdeck-dashboard");
    options.maxBackoffMs = 5000;
    return std::make_unique<RedisTaskSource>(options, ns);
}

void addToWindow(MainWindow &window, RedisTaskSource *source)
{
    auto *dock = new WorkersDock(source, &window);
    window.addDockWidget(Qt::RightDockWidgetArea, dock);
    window.setWindowTitle(
        QObject::tr("Taskdeck — cluster %1 on %2").arg(source->ns(), source->url()));
}

} // namespace ClusterDashboard
