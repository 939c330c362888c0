#pragma once

#include <QDockWidget>

class QTreeWidget;
class RedisTaskSource;

// The Workers dock of the dashboard on a cluster: every worker the cluster has seen, with
// its host, running/capacity, the age of its last heartbeat, the tasks it ended per second
// (a sparkline of the last minute) and, for a lost worker, what happened to its tasks.
// Refreshed from the source's worker poll. Main thread.
class WorkersDock : public QDockWidget
{
    Q_OBJECT
public:
    enum Column { Name, Host, Running, Heartbeat, Rate, Status, ColumnCount };

    explicit WorkersDock(RedisTaskSource *source, QWidget *parent = nullptr);

    QTreeWidget *table() const { return m_table; }
    void refresh();

private:
    RedisTaskSource *m_source;
    QTreeWidget *m_table;
};
