#pragma once

#include "tasksource.h"

#include <QDialog>
#include <QTimer>

class QTextBrowser;

// Everything about one task, as Flower's task page or bull-board's job view show it: its
// definition (file, command, arguments, timeout, retries, memory cap), state and attempts,
// the timings (queued, waited, ran), the whole result or error with the stack where it
// ended, and its retry links. Looked up from the source when opened and every second
// while it shows, never waiting for it. Main thread.
class TaskDetails : public QDialog
{
    Q_OBJECT
public:
    // `retryOf`/`retriedAs`: the table's retry links of the task (0: none).
    TaskDetails(TaskSource *source, TaskId id, TaskId retryOf = 0, TaskId retriedAs = 0,
                QWidget *parent = nullptr);

    TaskId task() const { return m_id; }
    QTextBrowser *view() const { return m_view; }
    // The page for `task` (HTML), what the dialog shows.
    static QString html(const TaskSnapshot &task, TaskId retryOf = 0, TaskId retriedAs = 0);

private:
    void refresh();

    TaskSource *m_source;
    TaskId m_id;
    TaskId m_retryOf;
    TaskId m_retriedAs;
    QTextBrowser *m_view;
    QTimer m_timer;
};
