#include "logpane.h"

#include "tasksource.h"

#include <QFontDatabase>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollBar>
#include <QVBoxLayout>

LogPane::LogPane(TaskSource *source, QWidget *parent)
    : QWidget(parent)
    , m_source(source)
    , m_title(new QLabel(this))
    , m_view(new QPlainTextEdit(this))
{
    m_title->setContentsMargins(4, 2, 4, 2);
    m_view->setObjectName(QStringLiteral("logView"));
    m_view->setReadOnly(true);
    m_view->setMaximumBlockCount(MaxLines);
    // Long lines wrap at the pane's edge: a log is read, not scrolled sideways.
    m_view->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    m_view->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_view->setPlaceholderText(tr("No log lines yet: log() and print() in a Lua task, or a "
                                  "process task's output, appear here as they come."));
    m_view->setAcceptDrops(false);
    m_view->viewport()->setAcceptDrops(false);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addWidget(m_title);
    layout->addWidget(m_view, 1);
    setTask(std::nullopt);
}

LogPane::~LogPane()
{
    if (m_source && m_task)
        m_source->unwatch(*m_task);
}

void LogPane::setTask(std::optional<TaskId> id)
{
    if (id == m_task && id)
        return;
    if (m_source && m_task)
        m_source->unwatch(*m_task);
    m_task = id;
    m_view->clear();
    if (!id) {
        m_awaitingLog = false;
        m_title->setText(tr("Select a task to see its log."));
        return;
    }
    m_title->setText(tr("Log of task #%1").arg(*id));
    if (m_source) {
        m_awaitingLog = true;
        m_source->watch(*id);
    }
}

void LogPane::applyWatched(const QList<WatchedTask> &watched)
{
    if (!m_task)
        return;
    for (const WatchedTask &task : watched) {
        if (task.id != *m_task || !task.fullLog || !m_awaitingLog)
            continue;
        m_awaitingLog = false;
        m_view->setPlainText(task.log.join(u'\n'));
        m_view->verticalScrollBar()->setValue(m_view->verticalScrollBar()->maximum());
    }
}

void LogPane::appendLogs(const QList<LogLines> &logs)
{
    if (!m_task || m_awaitingLog)
        return;
    for (const LogLines &log : logs) {
        if (log.id != *m_task || log.lines.isEmpty())
            continue;
        QScrollBar *bar = m_view->verticalScrollBar();
        const bool following = bar->value() >= bar->maximum() - 2;
        const int keep = bar->value();
        // appendPlainText adds a paragraph: an empty document would start with a blank line.
        if (m_view->document()->isEmpty())
            m_view->setPlainText(log.lines.join(u'\n'));
        else
            m_view->appendPlainText(log.lines.join(u'\n'));
        bar->setValue(following ? bar->maximum() : keep);
    }
}
