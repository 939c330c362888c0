#pragma once

#include "tasksource.h"

#include <QHash>
#include <QWidget>

#include <optional>

class TaskSource;
class QLabel;
class QPlainTextEdit;
class QTreeWidget;
class QTreeWidgetItem;

// The stack pane: where the selected task is. For a running task its tree of coroutines
// (or processes) with their frames and what each awaits and for how long, refreshed
// with each report of the task source on the selected task, which it watches (about
// four times a second); for a pending task why it waits; for a finished one
// (interrupted included) the stack where it ended. Clicking a frame shows the source
// around its line. Main thread; asks the source nothing that waits.
class StackPane : public QWidget
{
    Q_OBJECT
public:
    explicit StackPane(TaskSource *source, QWidget *parent = nullptr);
    ~StackPane() override;

    // The task to show (watched on the source); nullopt clears the pane.
    void setTask(std::optional<TaskId> id);
    std::optional<TaskId> task() const { return m_task; }
    // Reports on watched tasks: shows the latest on this one.
    void applyWatched(const QList<WatchedTask> &watched);

    QTreeWidget *tree() const { return m_tree; }
    QPlainTextEdit *sourceView() const { return m_source; }
    // Shows `file` around `line`, the line highlighted.
    void showSource(const QString &file, int line);

private:
    void showWatched(const WatchedTask &watched);
    void showStack(const CoroutineStack &stack, qint64 nowMs);
    void addCoroutine(QTreeWidgetItem *parent, const CoroutineStack &stack, qint64 nowMs,
                      QStringList &shape);
    void onItemActivated(QTreeWidgetItem *item);

    TaskSource *m_taskSource;
    std::optional<TaskId> m_task;
    QLabel *m_header;
    QTreeWidget *m_tree;
    QLabel *m_sourceTitle;
    QPlainTextEdit *m_source;
    QStringList m_shape;        // what the tree shows, to rebuild it only when it changed
    bool m_framePicked = false; // the user clicked a frame of this task
    TaskState m_state = TaskState::Pending; // of the task shown: its nodes' icons, the highlight
    // Each process's CPU time when last shown (pid -> seconds, epoch ms): its CPU share
    // since then, as htop shows it.
    QHash<qint64, std::pair<double, qint64>> m_cpuSeen;
    bool m_processes = false; // the stack is a process tree
    QHash<QString, QStringList> m_files;
};
