#pragma once

#include "tasksnapshot.h"

#include <QHash>
#include <QTimer>
#include <QWidget>

#include <optional>

class Engine;
class QLabel;
class QPlainTextEdit;
class QTreeWidget;
class QTreeWidgetItem;

// The stack pane: where the selected task is. For a running task its tree of coroutines
// (or processes) with their frames and what each awaits and for how long, refreshed
// about four times a second while a task is selected; for a pending task why it waits;
// for a finished one (interrupted included) the stack where it ended. Clicking a frame
// shows the source around its line. Main thread; reads the engine only through its
// blocking look-ups.
class StackPane : public QWidget
{
    Q_OBJECT
public:
    static constexpr int RefreshIntervalMs = 250;

    explicit StackPane(Engine *engine, QWidget *parent = nullptr);

    // The task to show; nullopt clears the pane and stops refreshing.
    void setTask(std::optional<TaskId> id);
    std::optional<TaskId> task() const { return m_task; }
    // Reads the task again now (the timer calls it; so does a batch that changed it).
    void refresh();

    QTreeWidget *tree() const { return m_tree; }
    QPlainTextEdit *sourceView() const { return m_source; }
    // Shows `file` around `line`, the line highlighted.
    void showSource(const QString &file, int line);

private:
    void showStack(const CoroutineStack &stack, qint64 nowMs);
    void addCoroutine(QTreeWidgetItem *parent, const CoroutineStack &stack, qint64 nowMs,
                      QStringList &shape);
    void onItemActivated(QTreeWidgetItem *item);

    Engine *m_engine;
    std::optional<TaskId> m_task;
    QTimer m_timer;
    QLabel *m_header;
    QTreeWidget *m_tree;
    QLabel *m_sourceTitle;
    QPlainTextEdit *m_source;
    QStringList m_shape; // what the tree shows, to rebuild it only when it changed
    bool m_framePicked = false; // the user clicked a frame of this task
    bool m_processes = false;   // the stack is a process tree
    QHash<QString, QStringList> m_files;
};
