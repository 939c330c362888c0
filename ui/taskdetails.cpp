#include "taskdetails.h"

#include "statestyle.h"
#include "tasktablemodel.h"

#include <QDateTime>
#include <QDialogButtonBox>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocale>
#include <QScrollBar>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace {

QString esc(const QString &text)
{
    return text.toHtmlEscaped();
}

QString when(qint64 ms)
{
    return ms < 0 ? QStringLiteral("—")
                  : QDateTime::fromMSecsSinceEpoch(ms).toString(
                        QStringLiteral("yyyy-MM-dd HH:mm:ss.zzz"));
}

QString duration(qint64 ms)
{
    return ms < 0 ? QStringLiteral("—") : TaskTableModel::formatDuration(ms);
}

// The stack where the task ended, as text: one line per frame, children indented.
void stackText(const StackNode &node, int depth, QString &out)
{
    const QString indent(depth * 2, u' ');
    if (node.isProcess()) {
        out += indent + node.process.summary() + u'\n';
    } else {
        out += indent + (node.id == 0 ? QStringLiteral("main")
                                      : QStringLiteral("coroutine %1").arg(node.id));
        if (!node.awaiting.isEmpty())
            out += QStringLiteral(" awaiting %1").arg(node.awaiting);
        out += u'\n';
        for (const StackFrame &f : node.frames)
            out += indent +
                   QStringLiteral("  %1:%2 %3\n")
                       .arg(f.file)
                       .arg(f.line)
                       .arg(f.function.isEmpty() ? QStringLiteral("(main chunk)") : f.function);
    }
    for (const StackNode &child : node.children)
        stackText(child, depth + 1, out);
}

QString resultText(const QJsonValue &r)
{
    if (r.isObject())
        return QString::fromUtf8(QJsonDocument(r.toObject()).toJson(QJsonDocument::Indented));
    if (r.isArray())
        return QString::fromUtf8(QJsonDocument(r.toArray()).toJson(QJsonDocument::Indented));
    if (r.isString())
        return r.toString();
    if (r.isBool())
        return r.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    if (r.isDouble())
        return QString::number(r.toDouble(), 'g', 15);
    return QStringLiteral("null");
}

} // namespace

TaskDetails::TaskDetails(TaskSource *source, TaskId id, TaskId retryOf, TaskId retriedAs,
                         QWidget *parent)
    : QDialog(parent)
    , m_source(source)
    , m_id(id)
    , m_retryOf(retryOf)
    , m_retriedAs(retriedAs)
    , m_view(new QTextBrowser(this))
{
    setObjectName(QStringLiteral("taskDetails"));
    setWindowTitle(tr("Task %1").arg(id));
    m_view->setObjectName(QStringLiteral("taskDetailsView"));
    m_view->setOpenLinks(false);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_view, 1);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    resize(720, 640);
    m_view->setHtml(tr("<p>Looking up task %1…</p>").arg(id));
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &TaskDetails::refresh);
    m_timer.start();
    refresh();
}

void TaskDetails::refresh()
{
    if (!m_source)
        return;
    m_source->lookUp({m_id}, this, [this](const QList<std::optional<TaskSnapshot>> &found) {
        if (found.isEmpty() || !found.first()) {
            m_view->setHtml(
                tr("<p>Task %1 is not known (cleared, or never queued).</p>").arg(m_id));
            m_timer.stop();
            return;
        }
        const int scroll = m_view->verticalScrollBar()->value();
        m_view->setHtml(html(*found.first(), m_retryOf, m_retriedAs));
        m_view->verticalScrollBar()->setValue(scroll);
        if (isFinished(found.first()->state))
            m_timer.stop(); // nothing changes any more
    });
}

QString TaskDetails::html(const TaskSnapshot &t, TaskId retryOf, TaskId retriedAs)
{
    QString page;
    const auto row = [&page](const QString &label, const QString &value) {
        page +=
            QStringLiteral("<tr><td style=\"padding-right:12px\"><b>%1</b></td><td>%2</td></tr>")
                .arg(esc(label), value);
    };
    page += QStringLiteral("<h3>#%1 %2 — %3</h3>")
                .arg(t.id)
                .arg(esc(t.name), esc(StateStyle::label(t.state)));
    page += QStringLiteral("<table>");
    row(tr("File"), esc(t.file));
    const TaskSpec *spec = t.spec.get();
    if (spec && spec->kind == ScriptKind::Process && !spec->command.isEmpty())
        row(tr("Command"), QStringLiteral("<code>%1</code>").arg(esc(spec->command.join(u' '))));
    row(tr("Kind"), t.kind == ScriptKind::Process ? tr("process") : tr("Lua"));
    row(tr("Group"), esc(t.group));
    row(tr("Priority"), QString::number(t.priority));
    if (spec) {
        QStringList args;
        for (const auto &[key, value] : spec->args)
            args.append(esc(key) + u'=' + esc(value));
        row(tr("Arguments"), args.isEmpty() ? tr("none") : args.join(QStringLiteral("<br>")));
        row(tr("Timeout"), spec->timeoutMs < 0 ? tr("none") : duration(spec->timeoutMs));
        row(tr("Retries"), spec->retries == 0 ? tr("none")
                                              : tr("%1 (first delay %2, doubled each time)")
                                                    .arg(spec->retries)
                                                    .arg(duration(spec->retryDelayMs)));
        row(tr("Memory cap"), spec->memoryBytes <= 0
                                  ? tr("default")
                                  : QLocale::system().formattedDataSize(spec->memoryBytes));
    }
    row(tr("Attempt"),
        t.attempt == 0 ? tr("not started") : tr("%1 of %2").arg(t.attempt).arg(t.maxAttempts));
    if (retryOf)
        row(tr("Retry of"), QStringLiteral("#%1").arg(retryOf));
    if (retriedAs)
        row(tr("Retried as"), QStringLiteral("#%1").arg(retriedAs));
    row(tr("Queued"), when(t.submittedAtMs));
    row(tr("Started"), when(t.startedAtMs));
    row(tr("Finished"), when(t.finishedAtMs));
    if (t.startedAtMs >= 0 && t.submittedAtMs >= 0)
        row(tr("Waited"), duration(t.startedAtMs - t.submittedAtMs));
    if (t.startedAtMs >= 0)
        row(tr("Ran"),
            duration((t.finishedAtMs >= 0 ? t.finishedAtMs : QDateTime::currentMSecsSinceEpoch()) -
                     t.startedAtMs));
    if (t.progress >= 0 || !t.status.isEmpty())
        row(tr("Progress"),
            QStringLiteral("%1 %2").arg(
                t.progress >= 0 ? QStringLiteral("%1%").arg(qRound(t.progress * 100)) : QString(),
                esc(t.status)));
    page += QStringLiteral("</table>");
    if (t.state == TaskState::Succeeded)
        page +=
            QStringLiteral("<h4>%1</h4><pre>%2</pre>").arg(tr("Result"), esc(resultText(t.result)));
    if (!t.error.isEmpty())
        page +=
            QStringLiteral("<h4>%1</h4><pre>%2</pre>")
                .arg(t.state == TaskState::Pending ? tr("Error of the last attempt") : tr("Error"),
                     esc(t.error));
    if (t.stack) {
        QString text;
        stackText(*t.stack, 0, text);
        page +=
            QStringLiteral("<h4>%1</h4><pre>%2</pre>").arg(tr("Stack where it ended"), esc(text));
    }
    return page;
}
