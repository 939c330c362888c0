#pragma once

#include "tasksource.h"

#include <QWidget>

#include <optional>

class TaskSource;
class QLabel;
class QPlainTextEdit;

// The log of the selected task, which it watches on the task source: the whole log from
// the source's first report after the selection, then extended by the lines each batch
// brings; it follows the end unless the user has scrolled up. Main thread.
class LogPane : public QWidget
{
    Q_OBJECT
public:
    static constexpr int MaxLines = 20000;

    explicit LogPane(TaskSource *source, QWidget *parent = nullptr);
    ~LogPane() override;

    void setTask(std::optional<TaskId> id);
    std::optional<TaskId> task() const { return m_task; }
    // The new lines of a batch; those of other tasks are ignored.
    void appendLogs(const QList<LogLines> &logs);
    // Reports on watched tasks: the whole log of this one, once.
    void applyWatched(const QList<WatchedTask> &watched);

    QPlainTextEdit *view() const { return m_view; }

private:
    TaskSource *m_source;
    std::optional<TaskId> m_task;
    QLabel *m_title;
    QPlainTextEdit *m_view;
    bool m_awaitingLog = false; // lines before the whole log are in it: skipped
};
